package ai.convoy.runtime.model;

import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;

/**
 * Where a model part's weights come from, by their Hugging Face names, already on the part's backend: a checkpoint
 * ({@link WeightBinder}) or random values of the right shapes ({@link RandomWeights}).
 */
interface WeightSource {
    WeightMatrix dense(String name, long rows, long cols);

    WeightVector vector(String name, long size);

    /** A linear layer's weight and its bias when it has one. */
    Transformer.Linear linear(String layer, int out, int in);

    boolean hasLmHead();

    WeightMatrix lmHead(int vocab, int hidden);
}
