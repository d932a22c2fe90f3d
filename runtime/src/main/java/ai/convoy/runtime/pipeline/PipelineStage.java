package ai.convoy.runtime.pipeline;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.Transformer;
import java.util.HashMap;
import java.util.Map;

/**
 * One stage of a pipeline: a part of the model on one backend, the KV cache of its layers, and which cache slot
 * holds which sequence. Sequences are opened with their capacity before their first row arrives, and closed when
 * they finish or are cancelled, which frees their cache at once.
 */
public final class PipelineStage implements AutoCloseable {
    private final Transformer part;
    private final KvCache cache;
    private final Map<Long, Integer> slots = new HashMap<>();

    public PipelineStage(Transformer part) {
        this.part = part;
        this.cache = part.newKvCache();
    }

    public Transformer part() {
        return part;
    }

    /** Opens a sequence's KV cache; opening an open sequence again does nothing (a re-run step repeats its opens). */
    public void open(long sequence, int capacity) {
        if (!slots.containsKey(sequence)) {
            slots.put(sequence, cache.openSlot(capacity));
        }
    }

    public void close(long sequence) {
        Integer slot = slots.remove(sequence);
        if (slot != null) {
            cache.closeSlot(slot);
        }
    }

    public int openSequences() {
        return slots.size();
    }

    /** The stage's result: hidden states for the next stage, or, from the last stage, the requested logits or picks. */
    public record Result(MicroBatch next, HeadOutput head) {
    }

    /** Runs the micro-batch; its activations are released at the end, whatever happens. */
    public Result run(MicroBatch batch) {
        try {
            return runRows(batch);
        } finally {
            part.backend().endStep();
        }
    }

    private Result runRows(MicroBatch batch) {
        SequenceChanges changes = batch.changes();
        for (long seq : changes.close()) {
            close(seq);
        }
        for (int i = 0; i < changes.open().length; i++) {
            open(changes.open()[i], changes.capacities()[i]);
        }
        if (batch.rows() == 0) {
            return part.hasHead() ? new Result(null, new HeadOutput(new float[0][], new int[0])) : new Result(batch, null);
        }
        int[] localSlots = new int[batch.rows()];
        for (int r = 0; r < localSlots.length; r++) {
            Integer slot = slots.get(batch.sequences()[r]);
            if (slot == null) {
                throw new UnknownSequenceException(batch.sequences()[r]);
            }
            localSlots[r] = slot;
        }
        TokenBatch tokens = new TokenBatch(localSlots, batch.positions());
        Backend backend = part.backend();
        Activations x;
        if (part.hasEmbedding()) {
            x = part.embed(batch.tokens());
        } else {
            HiddenStates in = batch.hidden();
            x = backend.activations(in.rows(), in.cols());
            backend.write(x, in.data());
        }
        part.runLayers(x, tokens, cache);
        if (part.hasHead()) {
            return new Result(null, part.head(x, batch.logitRows(), batch.picks()));
        }
        float[] out = new float[x.rows() * x.cols()];
        backend.read(x, out);
        return new Result(batch.withHidden(new HiddenStates(x.rows(), x.cols(), out)), null);
    }

    @Override
    public void close() {
        cache.close();
    }
}
