package ai.convoy.actors.cli;

/** Weight formats selectable on the command line. */
enum Quantization {
    none, nf4
}
