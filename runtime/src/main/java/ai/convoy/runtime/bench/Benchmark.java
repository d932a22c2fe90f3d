package ai.convoy.runtime.bench;

import ai.convoy.kernels.TokenPick;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.SequenceChanges;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Prefill and decode speed of a model loaded as pipeline stages, run one after another (each step goes through every
 * stage, as a batch-1 request does): a prompt of {@code promptLen} tokens, then for each batch size that many
 * sequences decoding {@code genLen} steps together, each attending over {@code promptLen} cached positions and more.
 */
public final class Benchmark {
    public record Settings(int promptLen, int genLen, int[] batchSizes, int warmupSteps) {
        public Settings {
            if (promptLen < 1 || genLen < 1 || batchSizes.length == 0 || Arrays.stream(batchSizes).anyMatch(b -> b < 1)) {
                throw new IllegalArgumentException("prompt and generation lengths and batch sizes must be positive");
            }
        }
    }

    /** How sampled jobs are measured, directly and through the runtime: the command line's defaults. */
    public static final SamplingParams SAMPLED = new SamplingParams(0.8f, 40, 0.95f, 1f, OptionalLong.empty(), 128, List.of());

    /** {@link #SAMPLED} for tables: "temperature 0.8, top-p 0.95, top-k 40". */
    public static String sampledSettings() {
        return "temperature " + SAMPLED.temperature() + ", top-p " + SAMPLED.topP() + ", top-k " + SAMPLED.topK();
    }

    /**
     * Median time per decode step of a batch size, greedy and sampled ({@link #SAMPLED}: every row's token drawn where
     * the logits are), and the tokens per second they give.
     */
    public record Decode(int batch, double secondsPerStep, double sampledSecondsPerStep) {
        public double tokensPerSecond() {
            return batch / secondsPerStep;
        }

        public double sampledTokensPerSecond() {
            return batch / sampledSecondsPerStep;
        }
    }

    public record Result(int promptLen, double prefillSeconds, List<Decode> decode) {
        public double prefillTokensPerSecond() {
            return promptLen / prefillSeconds;
        }
    }

    private final List<PipelineStage> stages;
    private final int vocab;
    private long nextSequence = 1;
    private long nextBatch = 1;

    public Benchmark(List<PipelineStage> stages, int vocab) {
        this.stages = stages;
        this.vocab = vocab;
    }

    /** Runs the measurements; {@code progress} hears each finished decode batch size's index. */
    public Result run(Settings s, IntConsumer progress) {
        // the first pass of a shape pays one-time costs (GEMM kernels loaded and chosen): warm up at the full length
        prefill(s.promptLen());
        double prefill = prefill(s.promptLen());
        List<Decode> decode = new ArrayList<>();
        for (int i = 0; i < s.batchSizes().length; i++) {
            int batch = s.batchSizes()[i];
            decode.add(new Decode(batch, decode(batch, s, false), decode(batch, s, true)));
            progress.accept(i);
        }
        return new Result(s.promptLen(), prefill, decode);
    }

    private double prefill(int length) {
        long sequence = nextSequence++;
        int[] positions = new int[length];
        int[] tokens = new int[length];
        long[] sequences = new long[length];
        for (int i = 0; i < length; i++) {
            positions[i] = i;
            tokens[i] = (1000 + 7 * i) % vocab;
            sequences[i] = sequence;
        }
        long start = System.nanoTime();
        pass(new MicroBatch(nextBatch++, SequenceChanges.opening(new long[] {sequence}, new int[] {length}), sequences, positions, tokens,
                null, new int[] {length - 1}));
        double seconds = (System.nanoTime() - start) / 1e9;
        pass(MicroBatch.changesOnly(nextBatch++, SequenceChanges.closing(sequence)));
        return seconds;
    }

    /** The median seconds of a decode step of {@code batch} sequences, greedy or sampled. */
    private double decode(int batch, Settings s, boolean sampled) {
        long[] sequences = new long[batch];
        int[] capacities = new int[batch];
        int[] logitRows = new int[batch];
        int[] tokens = new int[batch];
        for (int r = 0; r < batch; r++) {
            sequences[r] = nextSequence++;
            capacities[r] = s.promptLen() + s.warmupSteps() + s.genLen();
            logitRows[r] = r;
            tokens[r] = (2000 + r) % vocab;
        }
        SplittableRandom draws = new SplittableRandom(batch);
        SequenceChanges changes = SequenceChanges.opening(sequences, capacities);
        double[] times = new double[s.genLen()];
        for (int step = -s.warmupSteps(); step < s.genLen(); step++) {
            int[] positions = new int[batch];
            Arrays.fill(positions, s.promptLen() + s.warmupSteps() + step);
            TokenPick[] picks = new TokenPick[batch];
            for (int r = 0; r < batch; r++) {
                picks[r] = sampled ? new TokenPick(SAMPLED.temperature(), SAMPLED.topK(), SAMPLED.topP(), SAMPLED.repetitionPenalty(),
                        draws.nextDouble(), new int[0]) : TokenPick.argmax();
            }
            long start = System.nanoTime();
            // the last stage picks each row's token where the logits are, as for jobs
            HeadOutput head = pass(new MicroBatch(nextBatch++, changes, sequences, positions, tokens, null, logitRows, picks));
            for (int r = 0; r < batch; r++) {
                tokens[r] = head.token(r);
            }
            if (step >= 0) {
                times[step] = (System.nanoTime() - start) / 1e9;
            }
            changes = SequenceChanges.NONE;
        }
        pass(MicroBatch.changesOnly(nextBatch++, SequenceChanges.closing(sequences)));
        Arrays.sort(times);
        return times[times.length / 2];
    }

    /** Runs the micro-batch through every stage in turn; the last one's output. */
    private HeadOutput pass(MicroBatch batch) {
        PipelineStage.Result result = null;
        for (PipelineStage stage : stages) {
            result = stage.run(batch);
            batch = result.next();
        }
        return result.head();
    }
}
