package ai.convoy.runtime.model;

import ai.convoy.runtime.ConvoyException;

/** The model produced a NaN or infinite logit: its weights or config are broken, and the job cannot go on. */
public final class NonFiniteLogitsException extends ConvoyException {
    public NonFiniteLogitsException(float value) {
        this(" (" + value + ")");
    }

    /** Logits found not finite where they were, on a device: which value is not known here. */
    public NonFiniteLogitsException() {
        this("");
    }

    private NonFiniteLogitsException(String value) {
        super("the model's logits are not finite" + value + ": its weights hold NaN or infinity, or its config gives them");
    }

    /** Logits that are NaN or infinite come from broken weights or settings; no token or figure drawn from them means anything. */
    public static void requireFinite(float logit) {
        if (!Float.isFinite(logit)) {
            throw new NonFiniteLogitsException(logit);
        }
    }
}
