package ai.convoy.actors.pipeline;

import com.google.protobuf.Message;
import java.io.NotSerializableException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Pekko serializes Convoy's Protobuf messages (jobs and their events) as their Protobuf bytes, with the message
 * class as the manifest; bound to every {@code com.google.protobuf.Message} in application.conf.
 */
public final class ProtobufSerializer extends SerializerWithStringManifest {
    private final Map<String, MethodHandle> parsers = new ConcurrentHashMap<>();

    @Override
    public int identifier() {
        return 715_001;
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getName();
    }

    @Override
    public byte[] toBinary(Object o) {
        return ((Message) o).toByteArray();
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        try {
            return parser(manifest).invoke(bytes);
        } catch (Throwable e) {
            NotSerializableException n = new NotSerializableException("cannot read a " + manifest + ": " + e);
            n.initCause(e);
            throw n;
        }
    }

    private MethodHandle parser(String manifest) {
        return parsers.computeIfAbsent(manifest, name -> {
            try {
                Class<?> type = Class.forName(name, false, ProtobufSerializer.class.getClassLoader());
                if (!Message.class.isAssignableFrom(type)) {
                    throw new IllegalArgumentException(name + " is not a Protobuf message");
                }
                return MethodHandles.publicLookup().findStatic(type, "parseFrom", MethodType.methodType(type, byte[].class));
            } catch (ReflectiveOperationException e) {
                throw new IllegalArgumentException("no Protobuf message " + name, e);
            }
        });
    }
}
