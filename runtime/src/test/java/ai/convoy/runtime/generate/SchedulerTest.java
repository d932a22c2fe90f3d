package ai.convoy.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.TestTensors;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.pipeline.MicroBatch;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The scheduler driven against a model whose next token is a fixed function of every token before it, held in a cache
 * that the micro-batches must fill position by position: any row sent wrong, missing or out of order changes the
 * tokens, which are checked against the function applied directly.
 */
class SchedulerTest {
    static final int VOCAB = 50;

    /** The next token after {@code tokens[0..length)}. */
    static int next(int[] tokens, int length) {
        long h = length;
        for (int i = 0; i < length; i++) {
            h = h * 31 + tokens[i] + 1;
        }
        return (int) Math.floorMod(h, VOCAB);
    }

    static int[] reference(int[] prompt, int newTokens) {
        int[] all = java.util.Arrays.copyOf(prompt, prompt.length + newTokens);
        for (int i = prompt.length; i < all.length; i++) {
            all[i] = next(all, i);
        }
        return java.util.Arrays.copyOfRange(all, prompt.length, all.length);
    }

    /** A stage holding every sequence's tokens by position; a row must follow every position before it. */
    static final class FakeModel {
        final Map<Long, int[]> cache = new HashMap<>();
        final Map<Long, Integer> filled = new HashMap<>();
        int maxRowsSeen;
        // after caches were lost, a step sent before may name a sequence no longer open, as a restarted stage finds
        boolean cachesWereLost;
        int unknownSequences;
        // a sequence whose prompt starts with this token gets scores that are not finite; -1: none does
        int notFiniteFirstToken = -1;

        /** The step's head output, or null when it names a sequence that is not open (after caches were lost). */
        HeadOutput run(MicroBatch b) {
            for (long s : b.changes().close()) {
                cache.remove(s);
                filled.remove(s);
            }
            for (int i = 0; i < b.changes().open().length; i++) {
                cache.putIfAbsent(b.changes().open()[i], new int[b.changes().capacities()[i]]);
                filled.putIfAbsent(b.changes().open()[i], 0);
            }
            maxRowsSeen = Math.max(maxRowsSeen, b.rows());
            int[] rowToken = new int[b.rows()];
            for (int r = 0; r < b.rows(); r++) {
                if (cachesWereLost && !cache.containsKey(b.sequences()[r])) {
                    unknownSequences++;
                    return null;
                }
            }
            for (int r = 0; r < b.rows(); r++) {
                long s = b.sequences()[r];
                int p = b.positions()[r];
                int[] kv = cache.get(s);
                assertTrue(kv != null, "row for a sequence not open: " + s);
                assertTrue(p <= filled.get(s), "position " + p + " of sequence " + s + " before " + filled.get(s) + " are filled");
                kv[p] = b.tokens()[r];
                filled.put(s, Math.max(filled.get(s), p + 1));
                rowToken[r] = next(kv, p + 1);
            }
            float[][] logits = new float[b.logitRows().length][];
            int[] tokens = new int[b.logitRows().length];
            for (int i = 0; i < tokens.length; i++) {
                int token = rowToken[b.logitRows()[i]];
                if (b.picks()[i] != null) {
                    boolean notFinite = cache.get(b.sequences()[b.logitRows()[i]])[0] == notFiniteFirstToken;
                    tokens[i] = notFinite ? HeadOutput.NOT_FINITE : token;
                } else {
                    tokens[i] = -1;
                    logits[i] = new float[VOCAB];
                    logits[i][token] = 1;
                }
            }
            return new HeadOutput(logits, tokens);
        }
    }

    /** Every event, by job. */
    static final class Recorder implements Scheduler.Events {
        final Map<String, List<Integer>> tokens = new LinkedHashMap<>();
        final Map<String, String> ends = new LinkedHashMap<>();
        final Map<String, float[][]> promptLogits = new HashMap<>();

        @Override
        public void promptLogits(String job, float[][] logits) {
            promptLogits.put(job, logits);
        }

        @Override
        public void token(String job, int token) {
            assertFalse(ends.containsKey(job), job + " has a token after its end");
            tokens.computeIfAbsent(job, j -> new ArrayList<>()).add(token);
        }

        @Override
        public void finished(String job, SequenceState state) {
            assertEquals(null, ends.put(job, state.finished().name()), job + " ended twice");
        }

        @Override
        public void failed(String job, Scheduler.Failure failure, String reason) {
            assertEquals(null, ends.put(job, failure + ": " + reason), job + " ended twice");
        }

        int[] of(String job) {
            return tokens.getOrDefault(job, List.of()).stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** Micro-batches in flight in the order sent, as a pipeline runs them; {@code onStep} may interfere before each. */
    static void drive(Scheduler scheduler, FakeModel model, java.util.function.BiPredicate<Integer, MicroBatch> onStep) {
        ArrayDeque<MicroBatch> inFlight = new ArrayDeque<>(scheduler.schedule());
        int steps = 0;
        while (!inFlight.isEmpty()) {
            assertTrue(steps++ < 100_000, "the scheduler ends");
            MicroBatch b = inFlight.poll();
            if (onStep.test(steps, b)) {
                HeadOutput head = model.run(b);
                if (head != null) {
                    scheduler.completed(b.id(), head);
                } else {
                    scheduler.retry(b.id(), true);
                }
            }
            inFlight.addAll(scheduler.schedule());
        }
        assertTrue(scheduler.idle(), "nothing left");
    }

    static SamplingParams greedy(int newTokens) {
        return new SamplingParams(0f, 0, 1f, 1f, OptionalLong.empty(), newTokens, List.of());
    }

    /** Submits {@code count} greedy jobs with random prompts of up to {@code maxPrompt} tokens. */
    static List<Scheduler.Job> submit(Scheduler scheduler, SplittableRandom rnd, int count, int maxPrompt, int newTokens) {
        List<Scheduler.Job> jobs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] prompt = rnd.ints(1 + rnd.nextInt(maxPrompt), 0, VOCAB).toArray();
            jobs.add(new Scheduler.Job("job-" + i, prompt, greedy(newTokens), 0, false));
        }
        jobs.forEach(scheduler::submit);
        return jobs;
    }

    @Test
    void groupsChunksAndLimitsGiveEveryJobTheReferenceTokens() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(3, 64, new Scheduler.Limits(7, 5), events);
        List<Scheduler.Job> jobs = submit(scheduler, TestTensors.seeded(SchedulerTest.class), 12, 20, 9);
        FakeModel model = new FakeModel();
        int[] maxLive = {0};
        drive(scheduler, model, (step, b) -> {
            maxLive[0] = Math.max(maxLive[0], scheduler.liveSequences());
            return true;
        });
        for (Scheduler.Job j : jobs) {
            assertArrayEquals(reference(j.prompt(), 9), events.of(j.id()), j.id());
            assertEquals("MAX_NEW_TOKENS", events.ends.get(j.id()));
        }
        assertTrue(model.maxRowsSeen <= 7 && model.maxRowsSeen > 1, "rows per micro-batch: " + model.maxRowsSeen);
        assertEquals(5, maxLive[0], "live sequences at most the limit, and the limit reached");
        assertTrue(model.cache.isEmpty(), "every sequence closed: " + model.cache.keySet());
    }

    @Test
    void aRowWhoseScoresAreNotFiniteFailsOnlyItsOwnJob() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(1, 64, new Scheduler.Limits(16, 4), events);
        for (int i = 0; i < 4; i++) {
            scheduler.submit(new Scheduler.Job("j" + i, new int[] {10 + i, 3}, greedy(5), 0, false));
        }
        FakeModel model = new FakeModel();
        model.notFiniteFirstToken = 12;
        drive(scheduler, model, (s, b) -> true);
        assertTrue(events.ends.get("j2").startsWith("INTERNAL: the model's logits are not finite"), events.ends.get("j2"));
        assertEquals(0, events.of("j2").length);
        for (int i : new int[] {0, 1, 3}) {
            assertArrayEquals(reference(new int[] {10 + i, 3}, 5), events.of("j" + i), "j" + i);
            assertEquals("MAX_NEW_TOKENS", events.ends.get("j" + i));
        }
    }

    @Test
    void higherPriorityFirstThenArrival() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(1, 64, new Scheduler.Limits(16, 1), events);
        int[] priorities = {0, 2, 1, 2, 0};
        for (int i = 0; i < priorities.length; i++) {
            scheduler.submit(new Scheduler.Job("p" + i, new int[] {i}, greedy(2), priorities[i], false));
        }
        drive(scheduler, new FakeModel(), (s, b) -> true);
        assertEquals(List.of("p1", "p3", "p2", "p0", "p4"), List.copyOf(events.ends.keySet()));
    }

    @Test
    void promptLogitsCoverEveryPromptPositionAcrossChunks() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(2, 64, new Scheduler.Limits(4, 2), events);
        int[] prompt = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
        scheduler.submit(new Scheduler.Job("logits", prompt, greedy(3), 0, true));
        drive(scheduler, new FakeModel(), (s, b) -> true);
        float[][] rows = events.promptLogits.get("logits");
        assertEquals(prompt.length, rows.length);
        for (int p = 0; p < prompt.length; p++) {
            assertEquals(1f, rows[p][next(prompt, p + 1)], "position " + p);
        }
        assertArrayEquals(reference(prompt, 3), events.of("logits"));
    }

    /** A long prompt goes in by chunks beside the running sequences' decode rows: they take a token every step meanwhile. */
    @Test
    void aLongPromptDoesNotStallRunningSequences() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(1, 128, new Scheduler.Limits(8, 3), events);
        scheduler.submit(new Scheduler.Job("a", new int[] {1, 2}, greedy(40), 0, false));
        scheduler.submit(new Scheduler.Job("b", new int[] {3}, greedy(40), 0, false));
        int[] longPrompt = TestTensors.seeded(SchedulerTest.class).ints(60, 0, VOCAB).toArray();
        FakeModel model = new FakeModel();
        List<Integer> rowsWhilePrefilling = new ArrayList<>();
        int[] tokensBefore = new int[1];
        drive(scheduler, model, (step, b) -> {
            if (step == 3) {
                scheduler.submit(new Scheduler.Job("long", longPrompt, greedy(4), 0, false));
                tokensBefore[0] = events.of("a").length;
            }
            if (step > 3 && events.of("long").length == 0 && b.rows() > 0) {
                rowsWhilePrefilling.add(b.rows());
            }
            return true;
        });
        // 60 prompt rows at most 6 a step beside the two decode rows: ten steps, each of which gave "a" a token
        assertTrue(rowsWhilePrefilling.size() >= 10 && rowsWhilePrefilling.stream().allMatch(r -> r <= 8), rowsWhilePrefilling.toString());
        assertTrue(events.of("a").length - tokensBefore[0] >= 10, "a went on decoding while the long prompt went in");
        assertArrayEquals(reference(new int[] {1, 2}, 40), events.of("a"));
        assertArrayEquals(reference(new int[] {3}, 40), events.of("b"));
        assertArrayEquals(reference(longPrompt, 4), events.of("long"));
    }

    @Test
    void cancelledJobsEndOnceAndFreeTheirCache() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(1, 64, new Scheduler.Limits(16, 1), events);
        List<Scheduler.Job> jobs = submit(scheduler, new SplittableRandom(7), 3, 5, 20);
        assertTrue(scheduler.cancel("job-2"), "a waiting job");
        FakeModel model = new FakeModel();
        drive(scheduler, model, (step, b) -> {
            if (step == 4) {
                assertTrue(scheduler.cancel("job-0"), "a live job");
            }
            return true;
        });
        assertFalse(scheduler.cancel("job-0"), "ended already");
        assertEquals("CANCELLED", events.ends.get("job-2"));
        assertEquals(0, events.of("job-2").length);
        assertEquals("CANCELLED", events.ends.get("job-0"));
        int[] partial = events.of("job-0");
        assertTrue(partial.length > 0 && partial.length < 20, "cancelled mid-way: " + partial.length);
        assertArrayEquals(java.util.Arrays.copyOf(reference(jobs.get(0).prompt(), 20), partial.length), partial);
        assertArrayEquals(reference(jobs.get(1).prompt(), 20), events.of("job-1"));
        assertTrue(model.cache.isEmpty(), "every sequence closed");
    }

    @Test
    void preemptedSequencesReplayAndContinueWithoutRepeatingATokenAfterLostCaches() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(2, 64, new Scheduler.Limits(6, 6), events);
        List<Scheduler.Job> jobs = submit(scheduler, TestTensors.seeded(SchedulerTest.class), 10, 12, 12);
        FakeModel model = new FakeModel();
        int[] preempted = {0};
        drive(scheduler, model, (step, b) -> {
            if (step == 9 && scheduler.awaits(b.id())) {
                // out of memory: keep two
                model.cachesWereLost = true;
                preempted[0] = scheduler.preempt(b.id(), 2);
                scheduler.limit(new Scheduler.Limits(6, 2));
                return false;
            }
            if (step == 30 && scheduler.awaits(b.id())) {
                // a stage restarted: every cache is gone
                model.cachesWereLost = true;
                model.cache.clear();
                model.filled.clear();
                scheduler.cachesLost();
                scheduler.retry(b.id(), true);
                return false;
            }
            if (step == 45 && scheduler.awaits(b.id())) {
                // placed again over three stages
                model.cache.clear();
                model.filled.clear();
                scheduler.replaced(3);
                return false;
            }
            return true;
        });
        assertEquals(4, preempted[0], "six live, two kept");
        System.out.println("steps that named a sequence no longer open, replayed: " + model.unknownSequences);
        for (Scheduler.Job j : jobs) {
            assertArrayEquals(reference(j.prompt(), 12), events.of(j.id()), j.id());
        }
        assertTrue(model.cache.isEmpty(), "every sequence closed");
    }

    @Test
    void failuresEndEachJobOnce() {
        Recorder events = new Recorder();
        Scheduler scheduler = new Scheduler(2, 64, new Scheduler.Limits(8, 4), events);
        List<Scheduler.Job> jobs = submit(scheduler, new SplittableRandom(11), 9, 6, 10);
        FakeModel model = new FakeModel();
        List<String> failedStep = new ArrayList<>();
        drive(scheduler, model, (step, b) -> {
            if (step == 3 && scheduler.awaits(b.id())) {
                scheduler.fail(b.id(), Scheduler.Failure.INTERNAL, "injected");
                events.ends.forEach((j, why) -> failedStep.add(j));
                return false;
            }
            if (step == 12) {
                scheduler.failAll(Scheduler.Failure.DOES_NOT_FIT, "lost");
                return false;
            }
            return true;
        });
        assertFalse(failedStep.isEmpty(), "the step's jobs failed");
        assertEquals(jobs.size(), events.ends.size(), "every job ended: " + events.ends);
        long lost = events.ends.values().stream().filter(v -> v.equals("DOES_NOT_FIT: lost")).count();
        assertTrue(lost > 0, "the rest failed with the reason");
        assertEquals(0, scheduler.liveSequences() + scheduler.waitingJobs());
    }
}
