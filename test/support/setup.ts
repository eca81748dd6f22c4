// Nest decorators expect the Reflect metadata API before any decorated class is evaluated.
import 'reflect-metadata';
