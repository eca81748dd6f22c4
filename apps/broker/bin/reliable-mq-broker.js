#!/usr/bin/env node
'use strict';
// The standalone ReliableMQ broker. Settings come from the environment (BROKER_*); `--help` lists them.
require('../dist/main.js');
