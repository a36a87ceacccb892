/**
 * Bad input never reaches the chain or the server: the real `azmi` prints
 * exactly one line on stderr naming the flag and the fix, nothing on stdout,
 * and exits 2. Also `--help` for every command and `--version`.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanupTemp, ROOT, runAzmi } from "./support";

/** [argv, exact stderr line] for every kind of bad input the brief lists (and a few more). */
const USAGE_CASES: [string[], string][] = [
  [["bogus"], "azmi: unknown command 'bogus'; commands are token, doctor, serve, env (see 'azmi --help')"],
  [["tok\u001b[2Jen"], "azmi: unknown command 'tok\\u001b[2Jen'; commands are token, doctor, serve, env (see 'azmi --help')"],
  [["help", "tokens"], "azmi: unknown command 'tokens'; commands are token, doctor, serve, env (see 'azmi --help')"],
  [["--resource", "x"], "azmi: unknown option --resource; options go after the command, e.g. azmi token --resource"],
  [["token", "--foo"], "azmi token: unknown flag --foo (see 'azmi token --help')"],
  [["token", "--resourse", "https://vault.azure.net"], "azmi token: unknown flag --resourse; did you mean --resource? (see 'azmi token --help')"],
  [["token", "-r", "x"], "azmi token: unknown flag -r; flags are spelled with two dashes (see 'azmi token --help')"],
  [["token", "--resource"], "azmi token: --resource needs a value; pass it as --resource URI"],
  [["token", "--resource", "--verbose"], "azmi token: --resource needs a value; pass it as --resource URI"],
  [["token", "--resource="], "azmi token: --resource needs a non-empty value; pass it as --resource URI"],
  [["token", "--resource", "a", "--resource", "b"], "azmi token: --resource was given twice; pass it once"],
  [
    ["token", "--resource", "https://vault.azure.net", "--scope", "https://vault.azure.net/.default"],
    "azmi token: --resource and --scope cannot be combined; pass one (a scope is the resource plus /.default)",
  ],
  [
    ["token", "--client-id", "a", "--resource-id", "b"],
    "azmi token: --client-id and --resource-id both select an identity; pass only one of --client-id, --object-id, --resource-id",
  ],
  // The PowerShell module's -Resource rule; before, these walked the chain and exited 3.
  [
    ["token", "--resource", "a b"],
    "azmi token: --resource 'a b' contains a space at position 2. A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id; or use --scope for a scope.",
  ],
  [
    ["token", "--resource", "https://vault.azure.net\u001b[2J"],
    "azmi token: --resource 'https://vault.azure.net\\u001b[2J' contains a control character (U+001B) at position 24. A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id; or use --scope for a scope.",
  ],
  [
    ["doctor", "--resource", "https://vault.azure.net/\u00e9"],
    "azmi doctor: --resource 'https://vault.azure.net/\u00e9' contains '\u00e9' (U+00E9, not ASCII) at position 25. A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id; or use --scope for a scope.",
  ],
  [
    ["token", "--resource", "a".repeat(2049)],
    `azmi token: --resource '${"a".repeat(60)}...' is 2049 characters long (at most 2048). A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id; or use --scope for a scope.`,
  ],
  // --scope is held to the same rule (before, an escape character came back as the endpoint's 400, exit 4).
  [
    ["token", "--scope", "https://vault.azure.net/.default\u001b[2J"],
    "azmi token: --scope 'https://vault.azure.net/.default\\u001b[2J' contains a control character (U+001B) at position 33. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default.",
  ],
  [
    ["token", "--scope", "https://v\u00e4ult.azure.net/.default"],
    "azmi token: --scope 'https://v\u00e4ult.azure.net/.default' contains '\u00e4' (U+00E4, not ASCII) at position 10. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default.",
  ],
  [
    ["token", "--scope", "a/.default b/.default"],
    "azmi token: --scope 'a/.default b/.default' contains a space at position 11. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default.",
  ],
  [["token", "--output", "xml"], "azmi token: --output must be one of msi, json, raw, header (got 'xml')"],
  // What was typed is echoed with its control characters escaped, so an escape sequence cannot act on the terminal.
  [["token", "--output", "x\u001b[2J"], "azmi token: --output must be one of msi, json, raw, header (got 'x\\u001b[2J')"],
  [["token", "--\u001b[31mred"], "azmi token: unknown flag --\\u001b[31mred (see 'azmi token --help')"],
  [["token", "-\u0007"], "azmi token: unknown flag -\\u0007; flags are spelled with two dashes (see 'azmi token --help')"],
  [["token", "x\u009b"], "azmi token: unexpected argument 'x\\u009b'; every value belongs to a flag, e.g. --resource URI (see 'azmi token --help')"],
  // `--` (end of options elsewhere) is not a misspelled flag.
  [["token", "--", "--resource", "x"], "azmi token: '--' is not used by azmi: every value belongs to a flag, e.g. --resource URI (see 'azmi token --help')"],
  [["token", "--timeout-ms", "soon"], "azmi token: --timeout-ms must be a whole number between 1 and 600000 (got 'soon')"],
  [["token", "--timeout-ms", "0"], "azmi token: --timeout-ms must be between 1 and 600000 (got 0)"],
  [["token", "--timeout-ms=1.5"], "azmi token: --timeout-ms must be a whole number between 1 and 600000 (got '1.5')"],
  [
    ["token", "--only", "vscode"],
    "azmi token: --only: unknown link 'vscode'; links are environment, workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli",
  ],
  [
    ["token", "--exclude", "azure-cli,az"],
    "azmi token: --exclude: unknown link 'az'; links are environment, workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli",
  ],
  [
    ["token", "--exclude", "azure-cli,"],
    "azmi token: --exclude has an empty link name; pass names separated by commas, e.g. --exclude azure-cli,azure-powershell",
  ],
  [
    ["token", "--only", "azure-cli", "--exclude", "azure-cli"],
    "azmi token: --only azure-cli and --exclude azure-cli contradict each other; drop one",
  ],
  [["token", "--verbose=yes"], "azmi token: --verbose takes no value; pass just --verbose"],
  [["token", "vault"], "azmi token: unexpected argument 'vault'; every value belongs to a flag, e.g. --resource URI (see 'azmi token --help')"],
  [["doctor", "--jsn"], "azmi doctor: unknown flag --jsn; did you mean --json? (see 'azmi doctor --help')"],
  [["doctor", "--timeout-ms", "-5"], "azmi doctor: --timeout-ms must be a whole number between 1 and 600000 (got '-5')"],
  [["serve", "--port", "http"], "azmi serve: --port must be a whole number between 0 and 65535 (got 'http')"],
  [["serve", "--port", "70000"], "azmi serve: --port must be between 0 and 65535 (got 70000)"],
  [["serve", "--issuer", "entra"], "azmi serve: --issuer must be one of local, chain (got 'entra')"],
  [
    ["serve", "--allow-host", "*.test"],
    `azmi serve: --allow-host: "*.test" has a wildcard; list each name (a wildcard would let a web page re-bind a name of its own to this server)`,
  ],
  [["serve", "--allow-host", "myapp.test,10.0.0.1"], `azmi serve: --allow-host: "10.0.0.1" is an address; addresses need no allowing (a server bound beyond loopback takes any)`],
  // A name would be looked up in DNS (a query leaving the machine) before listening.
  [
    ["serve", "--host", "example.com"],
    "azmi serve: --host must be an IP address to listen on (127.0.0.1, ::1, 0.0.0.0 or one of this machine's addresses) or localhost, got 'example.com': host names are not resolved",
  ],
  // A zone id would listen, but the URLs printed for clients (http://[fe80::1%eth0]:PORT) are not URLs.
  [
    ["serve", "--host", "fe80::1%eth0"],
    "azmi serve: --host must be an IP address to listen on (127.0.0.1, ::1, 0.0.0.0 or one of this machine's addresses) or localhost, got 'fe80::1%eth0': an IPv6 zone id (%NAME) cannot be written in the URLs clients are given; use an address without one (::1, :: or a global address)",
  ],
  [
    ["serve", "--host", "[127.0.0.1]"],
    "azmi serve: --host must be an IP address to listen on (127.0.0.1, ::1, 0.0.0.0 or one of this machine's addresses) or localhost, got '[127.0.0.1]': brackets are for IPv6 addresses only",
  ],
  [["serve", "--tenant", "bad tenant!"], `azmi serve: --tenant must be a GUID or a domain name (letters, digits, '.', '-'); got "bad tenant!"`],
  [
    ["serve", "--identity", "not-a-guid"],
    "azmi serve: --identity must be a client id (a GUID like 00000000-0000-0000-0000-000000000000), got 'not-a-guid'",
  ],
  [
    ["serve", "--faults", "rate=2"],
    "azmi serve: --faults rate must be between 0 and 1 (a share of requests); got 2; example: --faults rate=0.2,statuses=429+503,retry-after=2",
  ],
  [
    ["serve", "--faults", "statuses=429+abc"],
    "azmi serve: --faults statuses must be HTTP statuses or delay joined by '+' (got 'abc'); example: --faults rate=0.2,statuses=429+503,retry-after=2",
  ],
  [
    ["serve", "--faults", "statuses=418"],
    'azmi serve: --faults statuses: 418 is not supported; use 403, 404, 410, 429, 500, 502, 503, 504 or "delay"; example: --faults rate=0.2,statuses=429+503,retry-after=2',
  ],
  [
    ["serve", "--faults", "sequence=500,sequence=ok"],
    "azmi serve: --faults sets sequence twice; example: --faults rate=0.2,statuses=429+503,retry-after=2",
  ],
  [
    ["serve", "--faults", "mode=chaos"],
    "azmi serve: --faults has an unknown key 'mode' (keys: rate, statuses, retry-after, delay-ms, sequence, seed); example: --faults rate=0.2,statuses=429+503,retry-after=2",
  ],
  [["env", "--shell", "fish"], "azmi env: --shell must be one of bash, pwsh, docker, compose (got 'fish')"],
  [
    ["env", "--dialect", "service-fabric"],
    "azmi env: --dialect must be one of app-service, imds, machine-learning, cloud-shell, arc (got 'service-fabric')",
  ],
];

describe("azmi CLI: bad input", function () {
  after(cleanupTemp);

  for (const [argv, line] of USAGE_CASES) {
    it(`azmi ${argv.join(" ")} → exit 2, one line`, async () => {
      const r = await runAzmi(argv);
      assert.equal(r.stderr, `${line}\n`);
      assert.equal(r.stdout, "");
      assert.equal(r.code, 2);
    });
  }

  it("azmi with no command prints the usage on stderr and exits 2", async () => {
    const r = await runAzmi([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^Usage: azmi <command> \[options\]\n/);
  });
});

describe("azmi CLI: help and version", function () {
  after(cleanupTemp);

  it("azmi --version prints the package version", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = await runAzmi(["--version"]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${pkg.version}\n`, ""]);
  });

  it("azmi --help lists every command and the exit codes", async () => {
    const r = await runAzmi(["--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    for (const cmd of ["token", "doctor", "serve", "env"]) assert.match(r.stdout, new RegExp(`^  ${cmd} `, "m"));
    assert.match(r.stdout, /3 no credential could be used/);
    assert.match(r.stdout, /4 authentication failed/);
  });

  const helps: [string, RegExp[]][] = [
    ["token", [/^Usage: azmi token/, /Default: https:\/\/management\.azure\.com\//, /expiresOnTimestamp/, /--verbose/, /4 a link answered with an authentication error/]],
    ["doctor", [/^Usage: azmi doctor/, /--json/, /NO_COLOR/]],
    ["serve", [/^Usage: azmi serve/, /--faults SPEC/, /--accept-any-identity/, /--identity CLIENT_ID/, /1 could not start/]],
    ["env", [/^Usage: azmi env/, /host\.docker\.internal/, /3 no server is running/]],
  ];
  for (const [cmd, patterns] of helps) {
    it(`azmi ${cmd} --help (and -h, and azmi help ${cmd}) print the same help`, async () => {
      const [long, short, topic] = await Promise.all([runAzmi([cmd, "--help"]), runAzmi([cmd, "-h"]), runAzmi(["help", cmd])]);
      for (const r of [long, short, topic]) {
        assert.equal(r.code, 0);
        assert.equal(r.stderr, "");
      }
      assert.equal(short.stdout, long.stdout);
      assert.equal(topic.stdout, long.stdout);
      for (const p of patterns) assert.match(long.stdout, p);
    });
  }

  it("--help wins over other (even bad) flags values, never runs the command", async () => {
    const r = await runAzmi(["token", "--help", "--output", "raw"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: azmi token/);
  });
});
