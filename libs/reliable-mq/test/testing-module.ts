import type { ModuleMetadata } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach } from 'vitest';

/*
 * Lifecycle support for the module specs: what a test starts is stopped after it, newest first, even when the test
 * fails. Not part of the public API.
 */

export type Cleanup = () => Promise<void> | void;

/** A list for a spec's tests to push teardown steps onto; after each test they run once, newest first. */
export function cleanupAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

export interface StartedModule {
  app: TestingModule;
  /** Closes the application; a second call does nothing. */
  close(): Promise<void>;
}

/** Compiles and initialises a testing module, and closes it at cleanup unless the test has closed it already. */
export async function startTestingModule(metadata: ModuleMetadata, cleanups: Cleanup[]): Promise<StartedModule> {
  const app = await Test.createTestingModule(metadata).compile();
  await app.init();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  cleanups.push(close);
  return { app, close };
}

/** Starts a testing module as `startTestingModule` does; resolves the error its startup failed with, or null. */
export async function startupErrorOf(metadata: ModuleMetadata, cleanups: Cleanup[]): Promise<unknown> {
  try {
    await startTestingModule(metadata, cleanups);
    return null;
  } catch (error) {
    return error;
  }
}
