package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import ai.convoy.runtime.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /v1/chat/completions on a model with a chat template (the built-in model given one): the messages rendered by the
 * template and encoded as it wrote them give the same text as /v1/completions on those token ids, whole and streamed.
 */
public class ServeChatTest {
    private static final String TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}assistant:{% endif %}";
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @TempDir
    Path tmp;

    static HttpResponse<String> post(int port, String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The built-in model in {@code dir}, given a chat template. */
    public static Path chatModel(Path dir) throws java.io.IOException {
        Path model = Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(EmbeddedModel.directory())) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        Files.writeString(model.resolve("chat_template.jinja"), TEMPLATE);
        return model;
    }

    @Test
    void chatMessagesAreRenderedByTheTemplateAndAnsweredAsTheirTokens() throws Exception {
        Path model = chatModel(tmp.resolve("chat-model"));
        String messages = "[{\"role\": \"system\", \"content\": \"Answer briefly.\"}, {\"role\": \"user\", \"content\": \"The jury said\"}]";
        int[] ids = Tokenizer.load(model).encode(ChatTemplate.load(model).orElseThrow().render(List.of(
                new ChatTemplate.Message("system", "Answer briefly."), new ChatTemplate.Message("user", "The jury said")), true), false);
        try (ServerProcess server = ServerProcess.start(tmp, "--model", model.toString(), "--devices", "cpu")) {
            HttpResponse<String> chat = post(server.httpPort, "/v1/chat/completions",
                    "{\"messages\": " + messages + ", \"max_tokens\": 16, \"temperature\": 0}");
            assertEquals(200, chat.statusCode(), chat.body());
            JsonNode answer = JSON.readTree(chat.body());
            assertEquals("chat.completion", answer.get("object").asText());
            assertEquals("assistant", answer.at("/choices/0/message/role").asText());
            assertEquals(ids.length, answer.at("/usage/prompt_tokens").asInt(), "the prompt is the rendered chat's tokens");
            String prompt = Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
            HttpResponse<String> plain = post(server.httpPort, "/v1/completions", "{\"prompt\": [" + prompt + "], \"max_tokens\": 16, \"temperature\": 0}");
            assertEquals(JSON.readTree(plain.body()).at("/choices/0/text").asText(), answer.at("/choices/0/message/content").asText());

            HttpResponse<String> streamed = post(server.httpPort, "/v1/chat/completions",
                    "{\"messages\": " + messages + ", \"max_tokens\": 16, \"temperature\": 0, \"stream\": true}");
            StringBuilder content = new StringBuilder();
            List<String> events = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
            assertEquals("[DONE]", events.getLast());
            assertEquals("assistant", JSON.readTree(events.getFirst()).at("/choices/0/delta/role").asText());
            for (String e : events.subList(0, events.size() - 1)) {
                JsonNode chunk = JSON.readTree(e);
                assertEquals("chat.completion.chunk", chunk.get("object").asText());
                content.append(chunk.at("/choices/0/delta/content").asText(""));
            }
            assertEquals(answer.at("/choices/0/message/content").asText(), content.toString(), "streamed as whole");
            assertTrue(JSON.readTree(events.get(events.size() - 2)).at("/choices/0/finish_reason").isTextual(), "the last chunk says why it ended");
        }
    }
}
