package ai.convoy.runtime.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * A conversation as the model's prompt: rendered by its chat template and encoded as the template wrote it (the
 * template places the special tokens itself), answered until the model's eos ids or the template's end-of-turn token.
 */
public record ChatPrompt(ChatTemplate template, Tokenizer tokenizer, List<Integer> stopTokenIds) {

    /** @param eosTokenIds the model's; the template's eos token joins them when the tokenizer knows it */
    public static ChatPrompt of(ChatTemplate template, Tokenizer tokenizer, List<Integer> eosTokenIds) {
        List<Integer> stops = new ArrayList<>(eosTokenIds);
        tokenizer.id(template.eosToken()).filter(id -> !stops.contains(id)).ifPresent(stops::add);
        return new ChatPrompt(template, tokenizer, List.copyOf(stops));
    }

    /** The prompt that asks for the assistant's next message. */
    public int[] encode(List<ChatTemplate.Message> messages) {
        return tokenizer.encode(template.render(messages, true), false);
    }
}
