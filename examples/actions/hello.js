// A Node.js action: `main` gets the invocation's parameters and returns the result.
// A promise (or an async function) works too; `exports.main = ...` works as well.
function main(params) {
  const name = params.name || 'stranger';
  console.log(`greeting ${name}`);
  return { greeting: `Hello, ${name}!` };
}
