package ai.convoy.actors.cli;

import picocli.CommandLine.Option;

/** --verbose, accepted by every command; Convoy.execute reads it to print stack traces with errors. */
final class VerboseOption {
    @Option(names = "--verbose", description = "Print stack traces with errors.")
    boolean verbose;
}
