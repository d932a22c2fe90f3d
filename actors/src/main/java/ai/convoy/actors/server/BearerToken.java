package ai.convoy.actors.server;

import ai.convoy.runtime.ConvoyException;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.grpc.javadsl.GrpcExceptionHandler;
import org.apache.pekko.grpc.javadsl.GrpcMarshalling;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.japi.function.Function;

/**
 * The token every call must carry when the server has one: {@code authorization: Bearer TOKEN}, as gRPC metadata or
 * an HTTP header. A call without it gets UNAUTHENTICATED (gRPC) or 401 (HTTP) and reaches nothing else.
 */
public final class BearerToken {
    private final byte[] expected;

    private BearerToken(String token) {
        this.expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    /** The token in the file's first line; a missing, unreadable or empty file is refused in one line. */
    public static BearerToken read(Path file) {
        return new BearerToken(firstLine(file));
    }

    /** The file's first line, the token; a missing, unreadable or empty file is refused in one line. */
    public static String firstLine(Path file) {
        String token;
        try {
            token = Files.readAllLines(file, StandardCharsets.UTF_8).stream().findFirst().orElse("").strip();
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read the auth token: " + e.getMessage());
        }
        if (token.isEmpty()) {
            throw ConvoyException.in(file, "the auth token file is empty: its first line is the token");
        }
        return token;
    }

    boolean allows(HttpRequest request) {
        byte[] given = request.getHeader("authorization").map(h -> h.value().getBytes(StandardCharsets.UTF_8)).orElse(new byte[0]);
        // compared in constant time: the answer's timing says nothing of how much of a guess was right
        return MessageDigest.isEqual(expected, given);
    }

    /** gRPC calls past the check; others answered UNAUTHENTICATED in the protocol the client speaks. */
    Function<HttpRequest, CompletionStage<HttpResponse>> guardGrpc(Function<HttpRequest, CompletionStage<HttpResponse>> inner,
                                                                     ClassicActorSystemProvider system) {
        GrpcServiceException refused = new GrpcServiceException(Status.UNAUTHENTICATED.withDescription(
                "this server needs its token: metadata authorization: Bearer TOKEN"));
        return request -> allows(request) ? inner.apply(request) : GrpcMarshalling.negotiated(request,
                (reader, writer) -> CompletableFuture.completedFuture(GrpcExceptionHandler.standard(refused, writer, system)))
                .orElseGet(() -> CompletableFuture.completedFuture(HttpResponse.create().withStatus(StatusCodes.UNAUTHORIZED)));
    }

    /** HTTP calls past the check; others answered 401 in OpenAI's error shape. */
    Function<HttpRequest, CompletionStage<HttpResponse>> guardHttp(Function<HttpRequest, CompletionStage<HttpResponse>> inner) {
        return request -> allows(request) ? inner.apply(request) : CompletableFuture.completedFuture(OpenAiHttp.error(new OpenAiHttp.ApiError(
                StatusCodes.UNAUTHORIZED, "invalid_request_error", "invalid_api_key",
                "this server needs its token: header Authorization: Bearer TOKEN")));
    }
}
