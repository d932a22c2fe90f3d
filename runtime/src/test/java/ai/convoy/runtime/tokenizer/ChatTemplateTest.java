package ai.convoy.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Chat templates rendered byte for byte as transformers' apply_chat_template renders them. (Qwen3's template needs
 * Python's string methods and keyword-argument namespace(), which Jinjava does not have; see the README.)
 */
class ChatTemplateTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama3_1"})
    void rendersLikeApplyChatTemplate(String name) {
        JsonNode expected = TokenizerParityTest.reference().path("chat").path(name);
        List<ChatTemplate.Message> messages = new ArrayList<>();
        expected.path("messages").forEach(m -> messages.add(new ChatTemplate.Message(m.path("role").asText(), m.path("content").asText())));
        ChatTemplate template = ChatTemplate.load(TokenizerParityTest.ROOT.resolve(name)).orElseThrow();
        String rendered = template.render(messages, expected.path("add_generation_prompt").asBoolean());
        assertEquals(expected.path("text").asText(), rendered);
        assertArrayEquals(TokenizerParityTest.ints(expected.path("ids")), TokenizerParityTest.tokenizer(name).encode(rendered, false));
    }
}
