package ai.convoy.runtime.model;

import ai.convoy.kernels.Backend;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.QuantizedWeight;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.quant.BnbLayout;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.quant.Quantizer;
import java.util.Arrays;

/**
 * Binds checkpoint tensors, by their Hugging Face names, to a backend: shapes checked against the config,
 * bitsandbytes tensors read as stored, full-precision linear weights quantized one at a time when asked.
 */
final class WeightBinder implements WeightSource {
    private final Checkpoint checkpoint;
    private final Backend backend;
    private final QuantizationOptions options;

    WeightBinder(Checkpoint checkpoint, Backend backend, QuantizationOptions options) {
        this.checkpoint = checkpoint;
        this.backend = backend;
        this.options = options;
    }

    @Override
    public WeightMatrix dense(String name, long rows, long cols) {
        return backend.matrix(checked(name, rows, cols));
    }

    @Override
    public WeightVector vector(String name, long size) {
        return backend.vector(checked(name, size));
    }

    /** A linear layer's weight (quantized as stored or as the options ask) and its bias when present. */
    @Override
    public Transformer.Linear linear(String layer, int out, int in) {
        WeightVector bias = checkpoint.has(layer + ".bias") ? vector(layer + ".bias", out) : null;
        return new Transformer.Linear(weight(layer, out, in, true), bias);
    }

    /** lm_head: full precision unless stored quantized or the options quantize it too. */
    @Override
    public boolean hasLmHead() {
        return checkpoint.has("lm_head.weight");
    }

    @Override
    public WeightMatrix lmHead(int vocab, int hidden) {
        return weight("lm_head", vocab, hidden, options.quantizeLmHead());
    }

    private WeightMatrix weight(String layer, int out, int in, boolean quantizable) {
        String name = layer + ".weight";
        if (BnbLayout.isFourBit(checkpoint, name)) {
            return backend.matrix(BnbLayout.readFourBit(checkpoint, name, out, in));
        }
        if (BnbLayout.isInt8(checkpoint, layer)) {
            return backend.matrix(BnbLayout.readInt8(checkpoint, layer, out, in));
        }
        HostTensor t = checked(name, out, in);
        if (!quantizable || options.method() == QuantizationOptions.Method.NONE) {
            return backend.matrix(t);
        }
        QuantizedWeight q = options.method().fourBit()
                ? Quantizer.fourBit(t, options.method().fourBitCode(), options.blocksize(), options.doubleQuant()).weight()
                : Quantizer.int8(t);
        if (t.data().isMapped()) {
            // the full-precision pages are done with: drop them so the model is never resident at full size
            t.data().unload();
        }
        return backend.matrix(q);
    }

    private HostTensor checked(String name, long... shape) {
        HostTensor t = checkpoint.get(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw ConvoyException.in(checkpoint.fileOf(name), "tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + " but config.json implies " + Arrays.toString(shape));
        }
        if (!t.dtype().isFloatingPoint()) {
            throw ConvoyException.in(checkpoint.fileOf(name), "tensor " + name + " is " + t.dtype()
                    + "; unquantized weights must be F32, F16 or BF16");
        }
        return t;
    }
}
