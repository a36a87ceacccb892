// Placeholder until the native build script lands: the addon is optional.
"use strict";
process.exit(0);
