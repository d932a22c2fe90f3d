package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.Arrays;
import java.util.stream.Collectors;

/** Parses quantization method names as the command line writes them. */
final class Methods {
    private Methods() {
    }

    static QuantizationOptions.Method parse(String option, String value) {
        return Arrays.stream(QuantizationOptions.Method.values()).filter(m -> m.cliName().equals(value.toLowerCase())).findFirst()
                .orElseThrow(() -> new ConvoyException(option + " must be one of " + Arrays.stream(QuantizationOptions.Method.values())
                        .map(QuantizationOptions.Method::cliName).collect(Collectors.joining(", ")) + ", got '" + value + "'"));
    }
}
