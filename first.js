const root = process.env.ROOT || "/work/main";
const mod = require(root);
const cred = new mod.ManagedIdentityCredential();
(async () => {
  globalThis.__M = [];
  const s = performance.now();
  __M.push("start", s);
  let ok = true;
  try { await cred.getToken("https://vault.azure.net/.default"); } catch (e) { ok = e.message; }
  __M.push("end", performance.now());
  const M = __M; let out = [];
  for (let i = 0; i < M.length; i += 2) out.push(`${M[i]}@${(M[i + 1] - s).toFixed(3)}`);
  console.log(out.join(" "), ok === true ? "" : ok);
})();
