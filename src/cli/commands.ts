// Registers the commands that live in their own modules.
import { registerCommand } from './main.js';
import { MODEL_COMMANDS } from './model-commands.js';

for (const c of MODEL_COMMANDS) registerCommand(c);
