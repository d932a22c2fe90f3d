package ai.convoy.actors.pipeline;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.TokenPick;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.pipeline.HiddenStates;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.SequenceChanges;
import ai.convoy.runtime.pipeline.UnknownSequenceException;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.google.protobuf.InvalidProtocolBufferException;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.JSerializer;

/**
 * Pekko's serializer for the pipeline's own messages ({@link PipelineMessage}) over Kryo 5: every class is registered,
 * in a fixed order, so that only these classes can be read; actor references travel as Pekko's serialization format,
 * jobs and events as Protobuf, failures as their kind and message.
 */
public final class KryoSerializer extends JSerializer {
    private static final int BUFFER_BYTES = 4096;

    private final ActorRefResolver resolver;
    private final ThreadLocal<Kryo> kryos = ThreadLocal.withInitial(this::newKryo);

    public KryoSerializer(ExtendedActorSystem system) {
        this.resolver = ActorRefResolver.get(Adapter.toTyped(system));
    }

    @Override
    public int identifier() {
        return 715_002;
    }

    @Override
    public boolean includeManifest() {
        return false;
    }

    @Override
    public byte[] toBinary(Object o) {
        Output out = new Output(BUFFER_BYTES, -1);
        kryos.get().writeClassAndObject(out, o);
        return out.toBytes();
    }

    @Override
    public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
        return kryos.get().readClassAndObject(new Input(bytes));
    }

    private Kryo newKryo() {
        Kryo kryo = new Kryo();
        kryo.setRegistrationRequired(true);
        kryo.setReferences(false);
        for (Class<?> c : new Class<?>[] {long[].class, int[].class, float[].class, float[][].class, boolean[].class}) {
            kryo.register(c);
        }
        kryo.register(List.of().getClass(), new ListSerializer());
        kryo.register(List.of(1).getClass(), new ListSerializer());
        kryo.register(ArrayList.class, new ListSerializer());
        kryo.register(actorRefClass(), new ActorRefSerializer());
        kryo.register(JobRequest.class, new ProtobufSerializer<>(bytes -> JobRequest.parseFrom(bytes)));
        kryo.register(JobEvent.class, new ProtobufSerializer<>(bytes -> JobEvent.parseFrom(bytes)));
        kryo.register(SequenceChanges.class);
        kryo.register(HiddenStates.class);
        kryo.register(TokenPick.class);
        kryo.register(TokenPick[].class);
        kryo.register(MicroBatch.class);
        kryo.register(HeadOutput.class);
        kryo.register(Planner.Fit.class);
        kryo.register(Coordinator.Submit.class);
        kryo.register(Coordinator.Cancel.class);
        kryo.register(Coordinator.StepDone.class);
        kryo.register(Coordinator.StepFailed.class, new StepFailedSerializer());
        kryo.register(Coordinator.StageLoadFailed.class, new StageLoadFailedSerializer());
        kryo.register(Coordinator.StageLost.class);
        kryo.register(Coordinator.GetStages.class);
        kryo.register(Coordinator.Stages.class);
        kryo.register(Coordinator.GetLimits.class);
        kryo.register(Coordinator.Limits.class);
        kryo.register(Coordinator.MemoryReplan.class);
        kryo.register(Coordinator.LimitLive.class);
        kryo.register(Coordinator.GetLoad.class);
        kryo.register(Coordinator.Load.class);
        kryo.register(Coordinator.GetPlacement.class);
        kryo.register(Coordinator.Placement.class);
        kryo.register(StageActor.Run.class);
        kryo.register(StageActor.Stats.class);
        kryo.register(StageActor.StageStats.class);
        kryo.register(StageActor.Stop.class);
        kryo.register(Device.Kind.class);
        kryo.register(Device.class);
        kryo.register(PipelineRuntime.StageSpec.class);
        kryo.register(QuantizationOptions.Method.class);
        kryo.register(QuantizationOptions.ComputeDtype.class);
        kryo.register(QuantizationOptions.class);
        kryo.register(NodeAgent.Describe.class);
        kryo.register(NodeAgent.MemberInfo.class);
        kryo.register(NodeAgent.StartStage.class);
        kryo.register(NodeAgent.StageStarted.class);
        return kryo;
    }

    /** The class of a typed actor reference in this Pekko. */
    private static Class<?> actorRefClass() {
        try {
            return Class.forName("org.apache.pekko.actor.typed.internal.adapter.ActorRefAdapter");
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("this Pekko has no typed actor reference adapter", e);
        }
    }

    private final class ActorRefSerializer extends Serializer<ActorRef<?>> {
        @Override
        public void write(Kryo kryo, Output output, ActorRef<?> ref) {
            output.writeString(resolver.toSerializationFormat(ref));
        }

        @Override
        public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
            return resolver.resolveActorRef(input.readString());
        }
    }

    /** Reads a Protobuf message from its bytes. */
    private interface Parser<T> {
        T parse(byte[] bytes) throws InvalidProtocolBufferException;
    }

    private static final class ProtobufSerializer<T extends com.google.protobuf.Message> extends Serializer<T> {
        private final Parser<T> parser;

        ProtobufSerializer(Parser<T> parser) {
            this.parser = parser;
        }

        @Override
        public void write(Kryo kryo, Output output, T message) {
            byte[] bytes = message.toByteArray();
            output.writeVarInt(bytes.length, true);
            output.writeBytes(bytes);
        }

        @Override
        public T read(Kryo kryo, Input input, Class<? extends T> type) {
            try {
                return parser.parse(input.readBytes(input.readVarInt(true)));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("a " + type.getSimpleName() + " that cannot be read: " + e.getMessage(), e);
            }
        }
    }

    private static final class ListSerializer extends Serializer<List<?>> {
        @Override
        public void write(Kryo kryo, Output output, List<?> list) {
            output.writeVarInt(list.size(), true);
            for (Object o : list) {
                kryo.writeClassAndObject(output, o);
            }
        }

        @Override
        public List<?> read(Kryo kryo, Input input, Class<? extends List<?>> type) {
            int n = input.readVarInt(true);
            List<Object> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(kryo.readClassAndObject(input));
            }
            return List.copyOf(out);
        }
    }

    /** How a failure crosses: what the coordinator tells apart (out-of-memory, an unknown sequence), else its text. */
    private enum FailureKind { OUT_OF_MEMORY, UNKNOWN_SEQUENCE, OTHER }

    static void writeFailure(Output output, RuntimeException failure) {
        switch (failure) {
            case DeviceOutOfMemoryException oom -> {
                output.writeVarInt(FailureKind.OUT_OF_MEMORY.ordinal(), true);
                output.writeString(oom.device());
                output.writeVarInt(oom.use().ordinal(), true);
                output.writeLong(oom.requested());
                output.writeLong(oom.free());
                output.writeLong(oom.held());
            }
            case UnknownSequenceException unknown -> {
                output.writeVarInt(FailureKind.UNKNOWN_SEQUENCE.ordinal(), true);
                output.writeLong(unknown.sequence());
            }
            default -> {
                output.writeVarInt(FailureKind.OTHER.ordinal(), true);
                output.writeString(failure.getMessage());
                output.writeString(failure.toString());
            }
        }
    }

    static RuntimeException readFailure(Input input) {
        return switch (FailureKind.values()[input.readVarInt(true)]) {
            case OUT_OF_MEMORY -> new DeviceOutOfMemoryException(input.readString(), DeviceOutOfMemoryException.Use.values()[input.readVarInt(true)],
                    input.readLong(), input.readLong(), input.readLong());
            case UNKNOWN_SEQUENCE -> new UnknownSequenceException(input.readLong());
            case OTHER -> new RemoteFailure(input.readString(), input.readString());
        };
    }

    /** A failure that crossed a serialization boundary: its message and its text as it was. */
    static final class RemoteFailure extends RuntimeException {
        private final String text;

        RemoteFailure(String message, String text) {
            super(message, null, false, false);
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    private static final class StepFailedSerializer extends Serializer<Coordinator.StepFailed> {
        @Override
        public void write(Kryo kryo, Output output, Coordinator.StepFailed f) {
            output.writeLong(f.batchId());
            output.writeString(f.stage());
            writeFailure(output, f.cause());
            output.writeBoolean(f.restarted());
        }

        @Override
        public Coordinator.StepFailed read(Kryo kryo, Input input, Class<? extends Coordinator.StepFailed> type) {
            return new Coordinator.StepFailed(input.readLong(), input.readString(), readFailure(input), input.readBoolean());
        }
    }

    private static final class StageLoadFailedSerializer extends Serializer<Coordinator.StageLoadFailed> {
        @Override
        public void write(Kryo kryo, Output output, Coordinator.StageLoadFailed f) {
            output.writeString(f.stage());
            writeFailure(output, f.cause());
        }

        @Override
        public Coordinator.StageLoadFailed read(Kryo kryo, Input input, Class<? extends Coordinator.StageLoadFailed> type) {
            return new Coordinator.StageLoadFailed(input.readString(), readFailure(input));
        }
    }
}
