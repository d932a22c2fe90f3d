package ai.convoy.runtime.eval;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.SequenceChanges;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Perplexity of a token sequence with a sliding window: windows of up to {@code context} tokens start every
 * {@code stride} tokens, and each token after the first is scored once, by the first window that reaches it, with
 * the window's earlier tokens as its context. exp(mean negative log-likelihood) over the scored tokens.
 * ops/default-model/train.py computes the same with transformers.
 */
public final class Perplexity {
    /** Rows sent through the model at once within a window, which bounds the logits held at a time. */
    static final int CHUNK = 256;

    public record Result(double perplexity, long scoredTokens, double meanNll, double seconds) {
        public double tokensPerSecond() {
            return scoredTokens / seconds;
        }
    }

    private Perplexity() {
    }

    /** Checks the window settings against the text's length and the model's context, one clear message each. */
    public static void validate(int tokens, int context, int stride, int maxPositions) {
        if (tokens < 2) {
            throw new ConvoyException("the text has " + tokens + " token" + (tokens == 1 ? "" : "s") + ": perplexity needs at least 2");
        }
        if (context < 2) {
            throw new ConvoyException("--context must be at least 2, got " + context);
        }
        if (context > maxPositions) {
            throw new ConvoyException("--context " + context + " is longer than the model's context of " + maxPositions
                    + " (max_position_embeddings)");
        }
        if (stride < 1 || stride > context) {
            throw new ConvoyException("--stride must be between 1 and --context (" + context + "), got " + stride);
        }
    }

    /**
     * Scores {@code ids} through {@code stages} (the model's stages in pipeline order; one stage for a whole model).
     * {@code progress} receives the number of tokens scored so far after each window.
     */
    public static Result of(List<PipelineStage> stages, int[] ids, int context, int stride, LongConsumer progress) {
        validate(ids.length, context, stride, stages.getFirst().part().config().maxPositions());
        long start = System.nanoTime();
        double nll = 0;
        int scoredTo = 1;
        long sequence = 0;
        for (int begin = 0; scoredTo < ids.length; begin += stride, sequence++) {
            int end = Math.min(begin + context, ids.length);
            SequenceChanges open = SequenceChanges.opening(new long[] {sequence}, new int[] {end - begin});
            for (int from = begin; from < end; from += CHUNK) {
                int to = Math.min(from + CHUNK, end);
                // rows whose next token is still to be scored: positions scoredTo-1 .. end-2
                int firstRow = Math.max(from, scoredTo - 1);
                int lastRow = Math.min(to, end - 1);
                int[] logitRows = new int[Math.max(0, lastRow - firstRow)];
                for (int i = 0; i < logitRows.length; i++) {
                    logitRows[i] = firstRow + i - from;
                }
                HeadOutput head = run(stages, chunk(sequence, from == begin ? open : SequenceChanges.NONE, ids, begin, from, to, logitRows));
                for (int i = 0; i < logitRows.length; i++) {
                    nll += negativeLogLikelihood(head.logits()[i], ids[firstRow + i + 1]);
                }
            }
            run(stages, MicroBatch.changesOnly(sequence, SequenceChanges.closing(sequence)));
            scoredTo = end;
            progress.accept(scoredTo - 1);
        }
        long scored = ids.length - 1;
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(Math.exp(nll / scored), scored, nll / scored, seconds);
    }

    private static MicroBatch chunk(long sequence, SequenceChanges changes, int[] ids, int begin, int from, int to, int[] logitRows) {
        int rows = to - from;
        long[] sequences = new long[rows];
        int[] positions = new int[rows];
        int[] tokens = new int[rows];
        for (int r = 0; r < rows; r++) {
            sequences[r] = sequence;
            positions[r] = from + r - begin;
            tokens[r] = ids[from + r];
        }
        return new MicroBatch(sequence, changes, sequences, positions, tokens, null, logitRows);
    }

    private static HeadOutput run(List<PipelineStage> stages, MicroBatch batch) {
        MicroBatch next = batch;
        for (PipelineStage stage : stages) {
            PipelineStage.Result r = stage.run(next);
            if (r.head() != null) {
                return r.head();
            }
            next = r.next();
        }
        throw new IllegalStateException("no stage holds the model's head");
    }

    /** -log softmax(logits)[target], in double; non-finite logits end the run, since they would make any figure meaningless. */
    static double negativeLogLikelihood(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            NonFiniteLogitsException.requireFinite(v);
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return max + Math.log(sum) - logits[target];
    }
}
