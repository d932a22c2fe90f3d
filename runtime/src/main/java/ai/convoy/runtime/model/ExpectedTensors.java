package ai.convoy.runtime.model;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors a full-precision checkpoint must hold for its config.json, with their shapes: checked before a
 * checkpoint is rewritten, so a mismatch is found before hours of work instead of when the result is run.
 */
public final class ExpectedTensors {
    private ExpectedTensors() {
    }

    /**
     * Name to shape of every weight the config implies, in checkpoint order; Qwen2's attention biases included, other
     * biases are optional and checked where present.
     */
    public static Map<String, long[]> of(ModelConfig c) {
        Map<String, long[]> out = new LinkedHashMap<>();
        long hidden = c.hiddenSize();
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long inter = c.intermediateSize();
        out.put("model.embed_tokens.weight", new long[] {c.vocabSize(), hidden});
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            out.put(p + "input_layernorm.weight", new long[] {hidden});
            out.put(p + "post_attention_layernorm.weight", new long[] {hidden});
            out.put(p + "self_attn.q_proj.weight", new long[] {q, hidden});
            out.put(p + "self_attn.k_proj.weight", new long[] {kv, hidden});
            out.put(p + "self_attn.v_proj.weight", new long[] {kv, hidden});
            if (c.architecture() == Architecture.QWEN2) {
                out.put(p + "self_attn.q_proj.bias", new long[] {q});
                out.put(p + "self_attn.k_proj.bias", new long[] {kv});
                out.put(p + "self_attn.v_proj.bias", new long[] {kv});
            }
            out.put(p + "self_attn.o_proj.weight", new long[] {hidden, q});
            out.put(p + "mlp.gate_proj.weight", new long[] {inter, hidden});
            out.put(p + "mlp.up_proj.weight", new long[] {inter, hidden});
            out.put(p + "mlp.down_proj.weight", new long[] {hidden, inter});
        }
        out.put("model.norm.weight", new long[] {hidden});
        if (!c.tieWordEmbeddings()) {
            out.put("lm_head.weight", new long[] {c.vocabSize(), hidden});
        }
        return out;
    }

    /** Throws, naming the tensor, its file and config.json, at the first tensor missing or of the wrong shape. */
    public static void check(ModelConfig c, Checkpoint checkpoint) {
        Map<String, long[]> expected = of(c);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            if (!checkpoint.has(e.getKey())) {
                throw ConvoyException.in(c.source(), "implies tensor " + e.getKey() + ", which the checkpoint lacks");
            }
            requireShape(c, checkpoint, e.getKey(), e.getValue());
        }
        for (String name : checkpoint.tensors().keySet()) {
            if (name.endsWith(".bias") && expected.containsKey(name.substring(0, name.length() - 5) + ".weight")) {
                long[] weight = expected.get(name.substring(0, name.length() - 5) + ".weight");
                requireShape(c, checkpoint, name, new long[] {weight[0]});
            }
        }
    }

    private static void requireShape(ModelConfig c, Checkpoint checkpoint, String name, long[] shape) {
        HostTensor t = checkpoint.get(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw ConvoyException.in(checkpoint.fileOf(name), "tensor " + name + " has shape " + Arrays.toString(t.shape()) + " but "
                    + c.source().getFileName() + " implies " + Arrays.toString(shape) + " (vocab_size, hidden_size, heads and sizes there)");
        }
    }
}
