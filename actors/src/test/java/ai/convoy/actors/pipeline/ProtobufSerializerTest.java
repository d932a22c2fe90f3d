package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import ai.convoy.proto.Done;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.TokenIds;
import ai.convoy.proto.Usage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.Test;

/** Pekko picks Convoy's Protobuf serializer for job messages and gets them back equal. */
class ProtobufSerializerTest {
    @Test
    void jobsAndEventsRoundTripThroughPekkoSerialization() {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "serialization");
        try {
            Serialization serialization = SerializationExtension.get(system);
            JobRequest request = JobRequest.newBuilder().setJobId("j1").setTokenIds(TokenIds.newBuilder().addIds(1).addIds(2)).setPriority(3).build();
            JobEvent event = JobEvent.newBuilder().setJobId("j1").setDone(Done.newBuilder().setReason(Done.Reason.STOP_TOKEN)
                    .setUsage(Usage.newBuilder().setPromptTokens(2).setGeneratedTokens(7))).build();
            for (Object message : new Object[] {request, event}) {
                var serializer = serialization.findSerializerFor(message);
                assertInstanceOf(ProtobufSerializer.class, serializer);
                byte[] bytes = serialization.serialize(message).get();
                Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
                assertEquals(message, back);
            }
        } finally {
            system.terminate();
        }
    }
}
