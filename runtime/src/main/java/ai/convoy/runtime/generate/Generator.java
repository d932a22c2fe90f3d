package ai.convoy.runtime.generate;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.plan.Planner;
import java.util.List;

/**
 * Generates for a set of prompts in this process, on the whole model: prompts prefilled together, then every live
 * sequence decoded one token a step, until each stops on a stop token, its token budget or the context.
 */
public final class Generator {
    private final Transformer model;
    private final int context;

    public enum FinishReason { STOP_TOKEN, MAX_NEW_TOKENS, CONTEXT_FULL, CANCELLED }

    /** @param promptLogits whether the listener receives the logits of every prompt position */
    public record Request(int[] prompt, SamplingParams params, boolean promptLogits) {
        public Request(int[] prompt, SamplingParams params) {
            this(prompt, params, false);
        }
    }

    public record Result(int[] tokens, FinishReason reason, int promptTokens) {
    }

    /** Receives output as it is produced; {@code sequence} is the request's index. */
    public interface Listener {
        default void promptLogits(int sequence, float[][] logits) {
        }

        void token(int sequence, int token);

        default void finished(int sequence, Result result) {
        }
    }

    public Generator(Transformer model) {
        this(model, model.config().maxPositions());
    }

    /** A generator whose sequences end at {@code context} tokens, prompt and output, within the model's own context. */
    public Generator(Transformer model, int context) {
        this.model = model;
        this.context = Math.min(context, model.config().maxPositions());
    }

    public ModelConfig config() {
        return model.config();
    }

    /** Checks a prompt against the model before any work: ids inside the vocabulary, length inside the context. */
    public static void validate(ModelConfig config, int[] prompt) {
        problem(config, prompt).ifPresent(p -> {
            throw ConvoyException.in(config.source(), p);
        });
    }

    /** What is wrong with the prompt for this model, if anything, in a phrase that does not name a file. */
    public static java.util.Optional<String> problem(ModelConfig config, int[] prompt) {
        if (prompt.length == 0) {
            return java.util.Optional.of("the prompt is empty: give at least one token");
        }
        for (int id : prompt) {
            if (id < 0 || id >= config.vocabSize()) {
                return java.util.Optional.of("token id " + id + " is outside the vocabulary (vocab_size " + config.vocabSize()
                        + ", valid ids 0.." + (config.vocabSize() - 1) + ")");
            }
        }
        if (prompt.length > config.maxPositions()) {
            return java.util.Optional.of("the prompt has " + prompt.length + " tokens, longer than the context of "
                    + config.maxPositions() + " (max_position_embeddings, or --max-context)");
        }
        return java.util.Optional.empty();
    }

    /**
     * Runs the requests to their ends, batched by the {@link Scheduler} as the pipeline batches jobs: prompts in
     * chunks of the planner's step size, then every live sequence one token a step.
     */
    public List<Result> generate(List<Request> requests, Listener listener) {
        requests.forEach(r -> validate(model.config().withMaxPositions(context), r.prompt()));
        Result[] results = new Result[requests.size()];
        Scheduler scheduler = new Scheduler(1, context, new Scheduler.Limits(Planner.stepRows(Math.max(1, requests.size()), context),
                Math.max(1, requests.size())), new Scheduler.Events() {
            @Override
            public void promptLogits(String job, float[][] logits) {
                listener.promptLogits(Integer.parseInt(job), logits);
            }

            @Override
            public void token(String job, int token) {
                listener.token(Integer.parseInt(job), token);
            }

            @Override
            public void finished(String job, SequenceState state) {
                int index = Integer.parseInt(job);
                results[index] = new Result(state.generatedTokens(), state.finished(), state.promptLength());
                listener.finished(index, results[index]);
            }

            @Override
            public void failed(String job, Scheduler.Failure failure, String reason) {
                throw new ConvoyException(reason);
            }
        });
        for (int i = 0; i < requests.size(); i++) {
            Request r = requests.get(i);
            scheduler.submit(new Scheduler.Job(Integer.toString(i), r.prompt(), r.params(), 0, r.promptLogits()));
        }
        try (PipelineStage whole = new PipelineStage(model)) {
            while (!scheduler.idle()) {
                for (MicroBatch batch : scheduler.schedule()) {
                    scheduler.completed(batch.id(), whole.run(batch).head());
                }
            }
        }
        return List.of(results);
    }
}
