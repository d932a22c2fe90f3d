package ai.convoy.runtime.tokenizer;

import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template (Jinja, from {@code tokenizer_config.json} or {@code chat_template.jinja}), rendered by
 * Jinjava with the settings transformers uses: trim_blocks and lstrip_blocks, {@code raise_exception} and
 * {@code strftime_now}, and {@code messages}, {@code bos_token}, {@code eos_token}, {@code add_generation_prompt}.
 */
public final class ChatTemplate {
    public static final String CONFIG_FILE = "tokenizer_config.json";
    private static final String TEMPLATE_FILE = "chat_template.jinja";

    public record Message(String role, String content) {
    }

    private final Path source;
    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    private ChatTemplate(Path source, String template, String bosToken, String eosToken) {
        this.source = source;
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class,
                "strftimeNow", String.class));
    }

    /** The directory's chat template, or empty when it has none. */
    public static Optional<ChatTemplate> load(Path dir) {
        Path config = dir.resolve(CONFIG_FILE);
        JsonNode json = null;
        if (Files.isRegularFile(config)) {
            try {
                json = new ObjectMapper().readTree(config.toFile());
            } catch (IOException e) {
                throw ConvoyException.in(config, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        String template = null;
        Path source = config;
        if (Files.isRegularFile(dir.resolve(TEMPLATE_FILE))) {
            source = dir.resolve(TEMPLATE_FILE);
            try {
                template = Files.readString(source);
            } catch (IOException e) {
                throw ConvoyException.in(source, "cannot read: " + e.getMessage());
            }
        } else if (json != null) {
            template = templateFrom(json.path("chat_template"));
        }
        if (template == null) {
            return Optional.empty();
        }
        return Optional.of(new ChatTemplate(source, template, tokenText(json, "bos_token"), tokenText(json, "eos_token")));
    }

    /** A template string, or the one named "default" of a list of named templates. */
    private static String templateFrom(JsonNode node) {
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            for (JsonNode t : node) {
                if (t.path("name").asText().equals("default")) {
                    return t.path("template").asText();
                }
            }
        }
        return null;
    }

    /** bos_token and eos_token are strings, or added-token objects with a content field. */
    private static String tokenText(JsonNode config, String key) {
        if (config == null) {
            return "";
        }
        JsonNode t = config.path(key);
        return t.isTextual() ? t.asText() : t.path("content").asText("");
    }

    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    public String render(List<Message> messages, boolean addGenerationPrompt) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages.stream().map(m -> {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            return map;
        }).toList());
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult result = jinjava.renderForResult(template, context);
        if (result.hasErrors()) {
            throw ConvoyException.in(source, "chat template: " + result.getErrors().getFirst().getMessage()
                    + " (Convoy renders templates with Jinjava, which lacks some Python-only features such as str.startswith and [::-1])");
        }
        return result.getOutput();
    }

    public static Object raiseException(String message) {
        throw new ConvoyException("chat template: " + message);
    }

    public static String strftimeNow(String format) {
        return LocalDateTime.now().format(DateTimeFormatter.ofPattern(toJavaPattern(format), Locale.ENGLISH));
    }

    /** strftime's common directives in java.time's pattern language. */
    private static String toJavaPattern(String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c == '%' && i + 1 < format.length()) {
                out.append(switch (format.charAt(++i)) {
                    case 'd' -> "dd";
                    case 'b' -> "MMM";
                    case 'B' -> "MMMM";
                    case 'm' -> "MM";
                    case 'Y' -> "yyyy";
                    case 'y' -> "yy";
                    case 'H' -> "HH";
                    case 'M' -> "mm";
                    case 'S' -> "ss";
                    case 'A' -> "EEEE";
                    case 'a' -> "EEE";
                    default -> "'%" + format.charAt(i) + "'";
                });
            } else if (Character.isLetter(c)) {
                out.append('\'').append(c).append('\'');
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
