package ai.convoy.runtime.model;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/** The decoder families Convoy runs: the Llama layout, with Mistral's sliding window and Qwen2's q/k/v biases. */
public enum Architecture {
    LLAMA("llama", "LlamaForCausalLM"),
    MISTRAL("mistral", "MistralForCausalLM"),
    QWEN2("qwen2", "Qwen2ForCausalLM");

    private final String modelType;
    private final String className;

    Architecture(String modelType, String className) {
        this.modelType = modelType;
        this.className = className;
    }

    public String modelType() {
        return modelType;
    }

    public String className() {
        return className;
    }

    public static Optional<Architecture> ofModelType(String modelType) {
        return Arrays.stream(values()).filter(a -> a.modelType.equals(modelType)).findFirst();
    }

    public static Optional<Architecture> ofClassName(String className) {
        return Arrays.stream(values()).filter(a -> a.className.equals(className)).findFirst();
    }

    public static String supported() {
        return Arrays.stream(values()).map(Architecture::modelType).collect(Collectors.joining(", "));
    }
}
