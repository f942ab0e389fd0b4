// Registers the commands that live in their own modules.
export {};
