package ai.convoy.runtime.generate;

import ai.convoy.kernels.TokenPick;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.SequenceChanges;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.stream.IntStream;

/**
 * Which rows run next, as plain logic: the waiting queue (by priority, then arrival), admission while the limits
 * allow, continuous batching over groups of live sequences (one micro-batch in flight per group, as many groups as
 * pipeline stages, so every stage has work), prompts in chunks that fill each step up to {@link Limits#maxRows()} rows
 * beside the decode rows of the running sequences (so a long prompt does not stall them), and what a failure does to
 * the sequences it touched: replay from their tokens, back to the queue, or failed. The owner sends
 * what {@link #schedule()} returns to the model, hands each result to {@link #completed}, and hears of tokens and
 * endings through {@link Events}. The actor pipeline and the in-process generator both drive it.
 */
public final class Scheduler {

    /** A job as the scheduler sees it; {@code promptLogits}: the logits of every prompt position are wanted. */
    public record Job(String id, int[] prompt, SamplingParams params, int priority, boolean promptLogits) {
    }

    /** Rows per micro-batch and live sequences at most. */
    public record Limits(int maxRows, int maxLive) {
        public Limits {
            if (maxRows < 1 || maxLive < 1) {
                throw new IllegalArgumentException("limits must be positive: " + maxRows + " rows, " + maxLive + " sequences");
            }
        }
    }

    /** Why a job failed: the model could not run it at all, or it does not fit the memory there is. */
    public enum Failure { INTERNAL, DOES_NOT_FIT }

    /** What happens to jobs, in the order it happens; each job gets exactly one of finished or failed. */
    public interface Events {
        default void promptLogits(String job, float[][] logits) {
        }

        void token(String job, int token);

        void finished(String job, SequenceState state);

        void failed(String job, Failure failure, String reason);
    }

    /** A job in the queue: new ({@code state} null), or sent back from running with its tokens so far. */
    private record Waiting(Job job, long order, SequenceState state) {
    }

    private static final class Sequence {
        final Job job;
        final long order;
        final long id;
        final SequenceState state;
        // whether every stage has opened this sequence's cache, and the positions whose keys and values it holds there
        boolean opened;
        int cachedRows;
        // where this step's rows of the sequence end (one past the last position sent); -1 when it sent none
        int stepEnd;
        // the prompt positions' logits while the prompt runs, when the job asked for them; null otherwise
        List<float[]> promptLogits;

        Sequence(Job job, long order, long id, SequenceState state) {
            this.job = job;
            this.order = order;
            this.id = id;
            this.state = state;
            this.promptLogits = job.promptLogits() ? new ArrayList<>() : null;
        }

        boolean collectsPromptLogits() {
            return promptLogits != null && state.generated() == 0;
        }

        /** Whether every token but the last is cached, so that a step takes one decode row of it. */
        boolean decoding() {
            return opened && cachedRows >= state.length() - 1;
        }

        /** Its cache is gone (or never was): its next step opens it again and replays it from its tokens. */
        void uncached() {
            opened = false;
            cachedRows = 0;
        }
    }

    /** One row of a step: a prompt position or the next decode position of a sequence. */
    private record Row(Sequence owner, int position, int token, boolean wantsLogits) {
    }

    /** A sequence's row of a step's head output. */
    private record Next(HeadOutput head, int row) {
    }

    /** Live sequences that go round together; a step of theirs runs as one or more micro-batches, one at a time. */
    private static final class Group {
        final List<Sequence> members = new ArrayList<>();
        final List<Long> toClose = new ArrayList<>();
        final ArrayDeque<MicroBatch> parts = new ArrayDeque<>();
        final ArrayDeque<List<Sequence>> partOwners = new ArrayDeque<>();
        final Map<Sequence, Next> next = new LinkedHashMap<>();
        List<Sequence> currentOwners = List.of();
        // the micro-batch in flight, -1 when none is
        long batchId = -1;
        int currentRows;
        long sentInEpoch;

        void reset() {
            parts.clear();
            partOwners.clear();
            next.clear();
            batchId = -1;
        }
    }

    private final int context;
    private final Events events;
    private Limits limits;
    private Group[] groups;
    private final PriorityQueue<Waiting> queue = new PriorityQueue<>(
            Comparator.comparingInt((Waiting w) -> -w.job().priority()).thenComparingLong(Waiting::order));
    private final Map<String, Sequence> live = new HashMap<>();
    // cancelled sequences whose caches are not closed yet
    private final List<Long> closeNow = new ArrayList<>();
    private long submitted;
    private long nextSequence;
    private long nextBatch;
    // counts losses of every cache: a step sent before one may have filled a cache that is gone
    private long epoch;

    /** @param context the positions a sequence may reach, prompt and output */
    public Scheduler(int groups, int context, Limits limits, Events events) {
        this.context = context;
        this.limits = limits;
        this.events = events;
        this.groups = newGroups(groups);
    }

    private static Group[] newGroups(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("at least one group");
        }
        return IntStream.range(0, count).mapToObj(i -> new Group()).toArray(Group[]::new);
    }

    public Limits limits() {
        return limits;
    }

    /** New limits from now on; the rows of a step in flight keep their size. */
    public void limit(Limits next) {
        limits = next;
    }

    /** The id the next micro-batch will have: every one sent so far has a smaller id. */
    public long nextBatchId() {
        return nextBatch;
    }

    public int liveSequences() {
        return live.size();
    }

    public int waitingJobs() {
        return queue.size();
    }

    /** Whether nothing is waiting, live, in flight or left to close. */
    public boolean idle() {
        return queue.isEmpty() && live.isEmpty() && closeNow.isEmpty()
                && Arrays.stream(groups).allMatch(g -> g.batchId < 0 && g.parts.isEmpty() && g.toClose.isEmpty());
    }

    public void submit(Job job) {
        queue.add(new Waiting(job, submitted++, null));
    }

    /**
     * Ends the job now with reason cancelled; a live one's cache is freed on every stage by a micro-batch of changes
     * only, which the next {@link #schedule()} returns (behind any rows of it still in flight). False when no such job
     * is waiting or live.
     */
    public boolean cancel(String jobId) {
        for (Waiting w : queue) {
            if (w.job().id().equals(jobId)) {
                queue.remove(w);
                SequenceState state = w.state() != null ? w.state() : new SequenceState(w.job().prompt(), w.job().params(), context);
                state.finish(Generator.FinishReason.CANCELLED);
                events.finished(jobId, state);
                return true;
            }
        }
        Sequence s = live.remove(jobId);
        if (s == null) {
            return false;
        }
        s.state.finish(Generator.FinishReason.CANCELLED);
        events.finished(jobId, s.state);
        for (Group g : groups) {
            g.members.remove(s);
            g.next.remove(s);
        }
        closeNow.add(s.id);
        return true;
    }

    /**
     * The micro-batches to send now: the next part of each group's step, or, for a group whose step is done, a new
     * step after queued jobs joined it while the limits allow.
     */
    public List<MicroBatch> schedule() {
        List<MicroBatch> out = new ArrayList<>();
        if (!closeNow.isEmpty()) {
            out.add(MicroBatch.changesOnly(nextBatch++, SequenceChanges.closing(closeNow.stream().mapToLong(Long::longValue).toArray())));
            closeNow.clear();
        }
        int maxLive = limits.maxLive();
        int perGroup = Math.max(1, (maxLive + groups.length - 1) / groups.length);
        for (Group g : groups) {
            if (g.batchId >= 0) {
                continue;
            }
            if (g.parts.isEmpty()) {
                while (!queue.isEmpty() && g.members.size() < perGroup && live.size() < maxLive) {
                    Waiting w = queue.poll();
                    SequenceState state = w.state() != null ? w.state() : new SequenceState(w.job().prompt(), w.job().params(), context);
                    Sequence s = new Sequence(w.job(), w.order(), nextSequence++, state);
                    g.members.add(s);
                    live.put(w.job().id(), s);
                }
                plan(g);
            }
            if (!g.parts.isEmpty()) {
                out.add(sendNextPart(g));
            }
        }
        return out;
    }

    /**
     * Plans the group's step: one decode row of each sequence whose tokens are cached, then the next prompt or replay
     * rows of the others, as many as fit beside them in {@link Limits#maxRows()} (at least one), split into parts.
     */
    private void plan(Group g) {
        List<Long> open = new ArrayList<>();
        List<Integer> capacities = new ArrayList<>();
        List<Row> rows = new ArrayList<>();
        int budget = Math.max(1, limits.maxRows() - (int) g.members.stream().filter(Sequence::decoding).count());
        for (Sequence s : g.members) {
            if (!s.decoding()) {
                if (budget == 0) {
                    s.stepEnd = -1;
                    continue;
                }
                open.add(s.id);
                capacities.add(s.state.capacity());
                boolean everyRow = s.collectsPromptLogits();
                if (everyRow && s.cachedRows == 0) {
                    s.promptLogits.clear();
                }
                s.stepEnd = Math.min(s.state.length(), s.cachedRows + budget);
                budget -= s.stepEnd - s.cachedRows;
                for (int p = s.cachedRows; p < s.stepEnd; p++) {
                    rows.add(new Row(s, p, s.state.token(p), everyRow || p == s.state.length() - 1));
                }
            } else {
                s.stepEnd = s.state.length();
                rows.add(new Row(s, s.state.length() - 1, s.state.lastToken(), true));
            }
        }
        if (rows.isEmpty() && g.toClose.isEmpty()) {
            return;
        }
        SequenceChanges changes = new SequenceChanges(open.stream().mapToLong(Long::longValue).toArray(),
                capacities.stream().mapToInt(Integer::intValue).toArray(), g.toClose.stream().mapToLong(Long::longValue).toArray());
        g.toClose.clear();
        int limit = limits.maxRows();
        for (int from = 0; from == 0 || from < rows.size(); from += limit) {
            List<Row> part = rows.subList(from, Math.min(rows.size(), from + limit));
            g.parts.add(part(from == 0 ? changes : SequenceChanges.NONE, part));
            g.partOwners.add(part.stream().filter(Row::wantsLogits).map(Row::owner).toList());
        }
        g.sentInEpoch = epoch;
    }

    private static MicroBatch part(SequenceChanges changes, List<Row> rows) {
        int[] logitRows = IntStream.range(0, rows.size()).filter(i -> rows.get(i).wantsLogits()).toArray();
        TokenPick[] picks = new TokenPick[logitRows.length];
        for (int i = 0; i < logitRows.length; i++) {
            Sequence owner = rows.get(logitRows[i]).owner();
            picks[i] = owner.collectsPromptLogits() ? null : owner.state.nextPick();
        }
        return new MicroBatch(-1, changes, rows.stream().mapToLong(r -> r.owner().id).toArray(), rows.stream().mapToInt(Row::position).toArray(),
                rows.stream().mapToInt(Row::token).toArray(), null, logitRows, picks);
    }

    private MicroBatch sendNextPart(Group g) {
        MicroBatch next = g.parts.poll();
        g.currentOwners = g.partOwners.poll();
        g.currentRows = next.rows();
        g.batchId = nextBatch++;
        return next.withId(g.batchId);
    }

    private Group inFlight(long batchId) {
        for (Group g : groups) {
            if (g.batchId == batchId) {
                return g;
            }
        }
        return null;
    }

    /** Whether micro-batch {@code batchId} carries rows of a group (not only changes) and is still awaited. */
    public boolean awaits(long batchId) {
        return batchId >= 0 && inFlight(batchId) != null;
    }

    /** The rows of micro-batch {@code batchId}, in flight; 0 when it is not. */
    public int rowsOf(long batchId) {
        Group g = inFlight(batchId);
        return g == null ? 0 : g.currentRows;
    }

    /** Takes the head output of micro-batch {@code batchId}; when it ends its group's step, every member takes its token. */
    public void completed(long batchId, HeadOutput head) {
        Group g = inFlight(batchId);
        if (g == null) {
            return;
        }
        g.batchId = -1;
        for (int i = 0; i < g.currentOwners.size(); i++) {
            Sequence owner = g.currentOwners.get(i);
            g.next.put(owner, new Next(head, i));
            if (owner.collectsPromptLogits()) {
                owner.promptLogits.add(head.logits()[i]);
            }
        }
        if (!g.parts.isEmpty()) {
            return;
        }
        for (Sequence s : new ArrayList<>(g.members)) {
            if (s.stepEnd < 0) {
                continue;
            }
            // what the step sent is cached, unless caches were lost since; then the sequence replays
            if (g.sentInEpoch == epoch) {
                s.opened = true;
                s.cachedRows = s.stepEnd;
            } else {
                s.uncached();
            }
            // a chunk that ends before the last position takes no token
            Next next = s.stepEnd == s.state.length() ? g.next.get(s) : null;
            if (next != null) {
                accept(g, s, next);
            }
        }
        g.next.clear();
    }

    private void accept(Group g, Sequence s, Next next) {
        if (s.collectsPromptLogits()) {
            events.promptLogits(s.job.id(), s.promptLogits.toArray(float[][]::new));
            s.promptLogits = null;
        }
        int token;
        try {
            token = s.state.accept(next.head(), next.row());
        } catch (NonFiniteLogitsException e) {
            end(g, s);
            events.failed(s.job.id(), Failure.INTERNAL, e.getMessage());
            return;
        }
        if (token >= 0) {
            events.token(s.job.id(), token);
        }
        if (s.state.finished() != null) {
            end(g, s);
            events.finished(s.job.id(), s.state);
        }
    }

    /** The sequence leaves: its cache is closed with its group's next step. */
    private void end(Group g, Sequence s) {
        live.remove(s.job.id());
        g.members.remove(s);
        g.toClose.add(s.id);
    }

    // ---- failures ----

    /** Every stage lost every cache (a restart): each live sequence is replayed from its tokens in its next step. */
    public void cachesLost() {
        epoch++;
        for (Group g : groups) {
            g.members.forEach(Sequence::uncached);
        }
    }

    /** Micro-batch {@code batchId} did not run: its group's step runs again; {@code replay}: its members from their tokens. */
    public void retry(long batchId, boolean replay) {
        Group g = inFlight(batchId);
        if (g == null) {
            return;
        }
        g.reset();
        if (replay) {
            g.members.forEach(Sequence::uncached);
        }
    }

    /**
     * Too little memory for the live sequences, found by micro-batch {@code batchId}: the newest beyond the oldest
     * {@code keep} go back to the queue with their tokens so far (their caches closed; they replay when admitted
     * again), or, when that is none, the newest half of the step's new sequences; the step runs again, after a
     * micro-batch that frees their caches. Returns how
     * many went back; 0 when none could (one sequence alone).
     */
    public int preempt(long batchId, int keep) {
        Group failed = inFlight(batchId);
        if (failed == null) {
            return 0;
        }
        List<Sequence> candidates = live.size() > keep ? new ArrayList<>(live.values())
                : failed.members.stream().filter(s -> !s.decoding() && s.state.generated() == 0).toList();
        candidates = candidates.stream().sorted(Comparator.comparingLong((Sequence s) -> s.order)).toList();
        int count = Math.min(live.size() - 1, live.size() > keep ? live.size() - keep : (candidates.size() + 1) / 2);
        if (count <= 0) {
            return 0;
        }
        failed.reset();
        for (Sequence s : candidates.subList(candidates.size() - count, candidates.size())) {
            for (Group g : groups) {
                if (g.members.remove(s)) {
                    g.next.remove(s);
                    live.remove(s.job.id());
                    // freed at once: each stage runs any rows of it still in flight before the close reaches it
                    closeNow.add(s.id);
                }
            }
            queue.add(new Waiting(s.job, s.order, s.state));
        }
        return count;
    }

    /** Micro-batch {@code batchId} failed for good: every member of its group fails with the reason. */
    public void fail(long batchId, Failure failure, String reason) {
        Group g = inFlight(batchId);
        if (g == null) {
            return;
        }
        g.reset();
        for (Sequence s : new ArrayList<>(g.members)) {
            end(g, s);
            events.failed(s.job.id(), failure, reason);
        }
    }

    /** Every job, live or waiting, fails with the reason. */
    public void failAll(Failure failure, String reason) {
        for (Group g : groups) {
            g.reset();
            g.members.clear();
            g.toClose.clear();
        }
        List<String> jobs = new ArrayList<>(live.keySet());
        live.clear();
        queue.stream().sorted(queue.comparator()).map(w -> w.job().id()).forEach(jobs::add);
        queue.clear();
        jobs.forEach(j -> events.failed(j, failure, reason));
    }

    /**
     * The model was placed again over {@code groupCount} stages with empty caches: nothing is in flight any more, and
     * every live sequence is replayed from its tokens.
     */
    public void replaced(int groupCount) {
        List<Sequence> members = new ArrayList<>();
        for (Group g : groups) {
            members.addAll(g.members);
        }
        members.sort(Comparator.comparingLong(s -> s.id));
        epoch++;
        groups = newGroups(groupCount);
        for (int i = 0; i < members.size(); i++) {
            Sequence s = members.get(i);
            s.uncached();
            groups[i % groupCount].members.add(s);
        }
    }
}
