package ai.convoy.actors.cli;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.quant.CheckpointQuantizer;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.quant.QuantizedSize;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Prints a model's architecture, parameter count, tensors and the memory its weights need.")
final class InspectCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--no-tensors", description = "Leave out the list of tensors.")
    boolean noTensors;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Path dir = modelOptions.directory();
        ModelConfig c = Model.readConfig(dir);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            long stored = 0;
            for (HostTensor t : checkpoint.tensors().values()) {
                stored += t.elementCount();
            }
            out.printf("model         %s%n", modelOptions.usesEmbeddedDefault() ? "(built-in default) " + dir : dir);
            out.printf("architecture  %s (model_type %s)%n", c.architecture().className(), c.architecture().modelType());
            out.printf("layers        %d, hidden %d, intermediate %d, vocab %d, context %d%n", c.layers(), c.hiddenSize(),
                    c.intermediateSize(), c.vocabSize(), c.maxPositions());
            out.printf("attention     %d query heads, %d kv heads, head_dim %d%s%n", c.heads(), c.kvHeads(), c.headDim(),
                    slidingWindowNote(c));
            out.printf("rope          %s, theta %s%s%n", c.rope().type(), c.rope().theta(),
                    c.rope().type().equals("default") ? "" : ", factor " + c.rope().factor());
            out.printf("embeddings    %s%n", c.tieWordEmbeddings() ? "tied to lm_head" : "separate lm_head");
            boolean quantized = !c.storedQuantization().equals("none");
            // a quantized checkpoint stores packed bytes, not parameters: count those from the config
            long parameters = quantized ? c.parameterCount() : stored;
            out.printf("parameters    %,d (%s)%n", parameters, Units.count(parameters));
            if (quantized) {
                out.printf("weights       %s as stored (bitsandbytes %s)%n", Units.bytes(checkpoint.totalBytes()), c.storedQuantization());
            } else {
                out.printf("weights       %s as stored (%s), %s in float32%n", Units.bytes(checkpoint.totalBytes()), c.dtype(),
                        Units.bytes(stored * 4));
            }
            out.printf("KV cache      %s per token in float32%n", Units.bytes(2L * c.layers() * c.kvHeads() * c.headDim() * 4));
            if (!quantized) {
                printQuantizedSizes(out, checkpoint);
            }
            if (!noTensors) {
                out.printf("%ntensors (%d)%n", checkpoint.tensors().size());
                Map<String, HostTensor> sorted = new TreeMap<>(InspectCommand::compareNatural);
                sorted.putAll(checkpoint.tensors());
                for (HostTensor t : sorted.values()) {
                    out.printf("  %-55s %-5s %-16s %s%n", t.name(), t.dtype(), Arrays.toString(t.shape()),
                            checkpoint.fileOf(t.name()).getFileName());
                }
            }
        }
        out.flush();
        return 0;
    }

    /** The weights' memory under each quantization: linear layers quantized, everything else as stored. */
    private static void printQuantizedSizes(PrintWriter out, Checkpoint checkpoint) {
        out.printf("%nweights by quantization (linear layers quantized; embeddings, norms and lm_head as stored)%n");
        out.printf("  %-26s %12s   %s%n", "quantization", "bytes", "bits per linear-layer parameter");
        record Variant(String label, QuantizationOptions.Method method, boolean doubleQuant) {
        }
        List<Variant> variants = List.of(new Variant("none (as stored)", QuantizationOptions.Method.NONE, false),
                new Variant("nf4, double quantization", QuantizationOptions.Method.NF4, true),
                new Variant("nf4", QuantizationOptions.Method.NF4, false),
                new Variant("fp4, double quantization", QuantizationOptions.Method.FP4, true),
                new Variant("int8", QuantizationOptions.Method.INT8, false));
        for (Variant v : variants) {
            long total = 0;
            long linearBytes = 0;
            long linearParams = 0;
            for (HostTensor t : checkpoint.tensors().values()) {
                if (CheckpointQuantizer.isLinearWeight(t.name()) && t.rank() == 2) {
                    long b = QuantizedSize.bytes(v.method(), t.shape()[0], t.shape()[1], QuantizationOptions.DEFAULT_BLOCKSIZE,
                            v.doubleQuant(), t.dtype().bytes());
                    linearBytes += b;
                    linearParams += t.elementCount();
                    total += b;
                } else {
                    total += t.data().byteSize();
                }
            }
            out.printf("  %-26s %12s   %.2f%n", v.label(), Units.bytes(total), linearParams == 0 ? 0 : 8.0 * linearBytes / linearParams);
        }
    }

    /** Orders names with their numbers compared as numbers, so layer 2 comes before layer 10. */
    static int compareNatural(String a, String b) {
        String[] pa = a.split("(?<=\\D)(?=\\d)|(?<=\\d)(?=\\D)");
        String[] pb = b.split("(?<=\\D)(?=\\d)|(?<=\\d)(?=\\D)");
        for (int i = 0; i < Math.min(pa.length, pb.length); i++) {
            boolean numbers = Character.isDigit(pa[i].charAt(0)) && Character.isDigit(pb[i].charAt(0));
            int c = numbers ? new java.math.BigInteger(pa[i]).compareTo(new java.math.BigInteger(pb[i])) : pa[i].compareTo(pb[i]);
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(pa.length, pb.length);
    }

    private static String slidingWindowNote(ModelConfig c) {
        long windowed = Arrays.stream(c.slidingWindows()).filter(w -> w > 0).count();
        return windowed == 0 ? "" : ", sliding window " + Arrays.stream(c.slidingWindows()).max().orElse(0)
                + " on " + windowed + " of " + c.layers() + " layers";
    }
}
