// Build and job numbers as positional arguments: a number that is not one is a usage error
// (exit 2), as a bad flag is (oclif's own integer argument fails with exit 1).
import { Args, Errors } from '@oclif/core';

const positiveNumber = Args.custom<number>({
  parse: async (input) => {
    if (!/^[1-9]\d*$/.test(input)) throw new Errors.CLIError(`Expected a positive whole number but received: ${input}`, { exit: 2 });
    return Number(input);
  },
});

export const numberArg = (description: string) => positiveNumber({ description, required: true });
