package ai.convoy.actors.pipeline;

/**
 * A message between the pipeline's actors (commands and their replies): Pekko serializes these with Kryo
 * ({@link KryoSerializer}, registered classes only), never with Java serialization.
 */
public interface PipelineMessage {
}
