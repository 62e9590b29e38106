/**
 * Runs the `hyvisor` command line of this process, unbundled (main.ts imports it when there is no
 * current bundle).
 * @module
 */
import { cli } from './cli.js';

process.exitCode = await cli(process.argv.slice(2));
