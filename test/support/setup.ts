// Nest decorators expect the Reflect metadata API before any decorated class is evaluated.
import 'reflect-metadata';
// A worker engine run from source loads SWC's register hook in its own thread. SWC is a native addon: once a thread
// that loaded it first has ended, a later thread cannot load it again unless the process already holds it.
import '@swc/core';
