package ai.convoy.actors.server;

import ai.convoy.proto.ChatMessage;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.tokenizer.ChatPrompt;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import java.util.List;
import java.util.Optional;

/** Jobs whose prompt is a conversation become the token ids of the model's chat template, for both APIs; others pass as they are. */
final class ChatJobs {
    private final Optional<ChatPrompt> chat;
    private final String modelId;

    ChatJobs(Optional<ChatPrompt> chat, String modelId) {
        this.chat = chat;
        this.modelId = modelId;
    }

    /** The job with its conversation rendered; a job that names no stop ids stops at the template's end of turn too. */
    JobRequest resolve(JobRequest job) {
        if (!job.hasChat()) {
            return job;
        }
        ChatPrompt prompt = chat.orElseThrow(() -> new ConvoyException("the model '" + modelId
                + "' has no chat template (and tokenizer): send a text or token-id prompt"));
        List<ChatMessage> messages = job.getChat().getMessagesList();
        if (messages.isEmpty()) {
            throw new ConvoyException("a chat needs at least one message");
        }
        int[] ids;
        try {
            ids = prompt.encode(messages.stream().map(m -> new ChatTemplate.Message(m.getRole(), m.getContent())).toList());
        } catch (ConvoyException e) {
            throw new ConvoyException("the chat template refused the messages: " + e.getMessage());
        }
        JobRequest.Builder resolved = job.toBuilder().setTokenIds(TokenIds.newBuilder().addAllIds(java.util.Arrays.stream(ids).boxed().toList()));
        if (job.getSampling().getStopTokenIdsCount() == 0) {
            resolved.getSamplingBuilder().addAllStopTokenIds(prompt.stopTokenIds());
        }
        return resolved.build();
    }
}
