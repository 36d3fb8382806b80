# A Python action: `main` gets the invocation's parameters (a dict) and returns a dict.
def main(args):
    name = args.get("name", "stranger")
    print("greeting", name)
    return {"greeting": "Hello, %s!" % name}
