/**
 * The one error shape (src/errors.ts): a stable `code`, a `cause` only when
 * something underneath failed.
 */
import * as assert from "node:assert/strict";
import { inspect } from "node:util";
import { AggregateAuthenticationError, AzmiError, CredentialUnavailableError, ErrorCode } from "../src/errors";

describe("errors", () => {
  it("an error without a cause has no cause property (printed errors do not show 'cause: undefined')", () => {
    const plain = new CredentialUnavailableError("nothing here");
    assert.equal(Object.prototype.hasOwnProperty.call(plain, "cause"), false);
    const aggregate = new AggregateAuthenticationError([plain, new AzmiError(ErrorCode.Timeout, "slow")], "none answered");
    assert.doesNotMatch(inspect(aggregate, { depth: 5 }), /cause: undefined/);
  });

  it("an error with a cause carries it", () => {
    const root = new Error("socket hang up");
    const e = new AzmiError(ErrorCode.Timeout, "slow", { cause: root });
    assert.equal(e.cause, root);
    assert.match(inspect(e), /socket hang up/);
  });
});
