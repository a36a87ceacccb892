// Spec output for people, plus the counts written to $AZMI_TEST_STATS so
// scripts/test.js can add them to the other suites' and print one total.
"use strict";
const fs = require("node:fs");
const Mocha = require("mocha");

class AzmiReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once("end", () => {
      const file = process.env.AZMI_TEST_STATS;
      if (!file) return;
      const { passes, failures, pending } = this.stats;
      fs.writeFileSync(file, JSON.stringify({ passed: passes, failed: failures, skipped: pending }));
    });
  }
}
module.exports = AzmiReporter;
