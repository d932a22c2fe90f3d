package ai.convoy.actors.pipeline;

import org.slf4j.Logger;

/**
 * The limits a running pipeline keeps to stay inside its devices, and how out-of-memory changes them: too little
 * room for activations halves the rows per micro-batch; too little for the KV cache lowers how many sequences may
 * be live at once. Each change is logged, and kept for the rest of the run.
 */
public final class BatchLimits {
    private final Logger log;
    private int maxRows;
    private int maxLive;

    public BatchLimits(Logger log, int maxRows, int maxLive) {
        this.log = log;
        this.maxRows = maxRows;
        this.maxLive = maxLive;
    }

    public int maxRows() {
        return maxRows;
    }

    public int maxLive() {
        return maxLive;
    }

    /** Sets the live-sequence limit, as batch-size detection or the user chose it. */
    public void limitLive(int sequences, String why) {
        maxLive = Math.max(1, sequences);
        log.debug("at most {} live sequences ({})", maxLive, why);
    }

    /** After a micro-batch of {@code rows} rows ran out of memory; false when it was one row already. */
    public boolean activationsOutOfMemory(String stage, int rows, String detail) {
        if (rows <= 1) {
            log.warn("{}: out of memory with a single row; cannot go smaller ({})", stage, detail);
            return false;
        }
        maxRows = Math.max(1, Math.min(maxRows, rows / 2));
        log.warn("{}: out of memory with {} rows in a micro-batch; now micro-batches of at most {} rows (halved) ({})", stage, rows, maxRows, detail);
        return true;
    }

    /** After opening sequences ran out of KV cache with {@code live} live; false when one sequence alone does not fit. */
    public boolean kvCacheOutOfMemory(String stage, int live, int evicted, String detail) {
        if (live - evicted < 1) {
            log.warn("{}: the KV cache of one sequence does not fit ({})", stage, detail);
            return false;
        }
        maxLive = Math.max(1, Math.min(maxLive, live - evicted));
        log.warn("{}: out of memory for the KV cache with {} sequences live; now at most {} live, {} back in the queue ({})", stage,
                live, maxLive, evicted, detail);
        return true;
    }
}
