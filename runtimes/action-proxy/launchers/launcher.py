"""whisk action-proxy launcher for Python actions (OpenWhisk ActionLoop protocol).

Started once per action as `python3 launcher.py <code file> <entry point>`, with fd 3 open
for results. Loads the action, answers {"ok": true} (or {"error": ...}) on fd 3, then for
each JSON line on stdin: sets __OW_<KEY> for each key but "value", calls the entry point with
"value", writes the sentinel on stdout and stderr, and the result as one line on fd 3.
See ../README.md.
"""

import json
import os
import sys
import traceback
import types

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
RESULT_FD = 3


def answer(out, result):
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as err:
        text = json.dumps({"error": "The action returned a value that is not JSON: %s" % err})
    out.write(text.encode("utf-8") + b"\n")
    out.flush()


def load_entry_point(code_file, name):
    """Runs the code as module `main__` (as OpenWhisk's Python runtime names it)."""
    with open(code_file, encoding="utf-8") as f:
        source = f.read()
    sys.path.insert(0, os.path.dirname(os.path.abspath(code_file)))
    module = types.ModuleType("main__")
    module.__file__ = code_file
    sys.modules["main__"] = module
    exec(compile(source, code_file, "exec"), module.__dict__)
    main = getattr(module, name, None)
    if not callable(main):
        raise NameError("Action entrypoint '%s' is not a function." % name)
    return main


def set_activation_env(message, previous):
    """Context of the previous activation must not leak into the next one."""
    for name in previous:
        os.environ.pop(name, None)
    names = []
    for key, value in message.items():
        if key == "value" or value is None:
            continue
        name = "__OW_%s" % key.upper()
        os.environ[name] = value if isinstance(value, str) else json.dumps(value)
        names.append(name)
    return names


def end_activation():
    """Flushes what the action printed, then the sentinels, on the real streams (the action
    may have replaced sys.stdout)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    for stream in (sys.__stdout__, sys.__stderr__):
        stream.write(SENTINEL + "\n")
        stream.flush()


def serve(main, out):
    env_names = []
    while True:
        line = sys.stdin.readline()
        if not line:
            break  # the proxy closed stdin: it is gone, and so is this action
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            env_names = set_activation_env(message, env_names)
            result = main(message.get("value", {}))
        except Exception as err:
            traceback.print_exc()
            # str(MemoryError()) is empty: name the exception when it says nothing.
            result = {"error": str(err) or type(err).__name__}
        end_activation()
        answer(out, result)


def start():
    code_file = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "main"
    out = os.fdopen(RESULT_FD, "wb")
    try:
        main = load_entry_point(code_file, name)
    except BaseException as err:  # SyntaxError, SystemExit at import: all fail the init
        traceback.print_exc()
        sys.stderr.flush()
        answer(out, {"error": "Initialization has failed due to: %s" % err})
        sys.exit(1)
    answer(out, {"ok": True})
    serve(main, out)


if __name__ == "__main__":
    start()
