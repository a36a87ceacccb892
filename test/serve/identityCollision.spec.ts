/**
 * User-assigned identities must not share claims or steal each other's
 * selectors. The default name (hence `xms_mirid` and the `msi_res_id` that
 * selects the identity) was built from the first 8 characters of the client
 * id, so two ids with the same prefix (00000000-…-0001 and …-0002, or any
 * id a caller makes up under --accept-any-identity) got the same resource id,
 * and the later one took over `msi_res_id` of the first.
 */
import * as assert from "node:assert/strict";
import { startServer, type RunningServer } from "../../src/serve/server";
import { claimsOf, get, IMDS_PATH, IMDS_QUERY, useTempHome } from "./support";

const FIRST = "00000000-0000-0000-0000-000000000001";
const SECOND = "00000000-0000-0000-0000-000000000002";

async function token(server: RunningServer, selector: string): Promise<Record<string, unknown>> {
  const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&${selector}`, { Metadata: "true" });
  assert.equal(res.status, 200, res.body);
  return claimsOf((JSON.parse(res.body) as { access_token: string }).access_token);
}

describe("serve: user-assigned identities do not collide", () => {
  const home = useTempHome();
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("two declared identities whose client ids share a prefix get distinct xms_mirid, and msi_res_id selects each", async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: FIRST }, { clientId: SECOND }] });
    const a = await token(server, `client_id=${FIRST}`);
    const b = await token(server, `client_id=${SECOND}`);
    assert.notEqual(a.xms_mirid, b.xms_mirid);
    assert.equal((await token(server, `msi_res_id=${encodeURIComponent(a.xms_mirid as string)}`)).appid, FIRST);
    assert.equal((await token(server, `msi_res_id=${encodeURIComponent(b.xms_mirid as string)}`)).appid, SECOND);
  });

  it("under --accept-any-identity, a made-up client id cannot take over a declared identity's msi_res_id", async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: FIRST }], acceptAnyIdentity: true });
    const declared = await token(server, `client_id=${FIRST}`);
    const madeUp = await token(server, `client_id=${SECOND}`);
    assert.notEqual(madeUp.xms_mirid, declared.xms_mirid);
    const bySelector = await token(server, `msi_res_id=${encodeURIComponent(declared.xms_mirid as string)}`);
    assert.equal(bySelector.appid, FIRST);
    assert.equal(bySelector.oid, declared.oid);
  });
});
