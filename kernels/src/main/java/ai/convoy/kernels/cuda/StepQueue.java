package ai.convoy.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;

/**
 * A step's work on the device's stream: launches and cuBLAS products are held and submitted in chunks (the GPU runs one
 * while the host builds the next), decode-sized steps as CUDA graphs captured once and replayed; the step's workspace,
 * its uploads of host arrays, and scratch buffers that one operation fills and the next consumes.
 */
final class StepQueue {
    /** Steps of up to this many rows (decode batches) are replayed as graphs. */
    private static final int GRAPH_ROWS = 64;
    /** A step is submitted in chunks of this many operations. */
    private static final int CHUNK_OPS = 32;
    /** Captured chunks kept: about ten per decode step shape (batch size, context bucket), for dozens of shapes. */
    private static final int MAX_GRAPHS = 512;

    /** Work held until the step is submitted: equal lists of equal operations replay one captured graph. */
    sealed interface Op permits Launch, Gemm {
    }

    /**
     * A kernel launch; equal launches have equal functions and arguments, device pointers equal by address.
     * {@code shared}: bytes of dynamic shared memory.
     */
    record Launch(String function, int grid, int block, int shared, Object[] args) implements Op {
        Launch(String function, int grid, int block, Object[] args) {
            this(function, grid, block, 0, args);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Launch l && function.equals(l.function) && grid == l.grid && block == l.block && shared == l.shared
                    && DevicePointers.sameArguments(args, l.args);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * function.hashCode() + grid) + DevicePointers.argumentsHash(args);
        }
    }

    /** A cuBLAS product (Cublas.gemm's arguments). */
    record Gemm(CUdeviceptr w, CUdeviceptr x, CUdeviceptr y, int m, int n, int k, int ldy, boolean accumulate) implements Op {
    }

    private record Scratch(CUdeviceptr ptr, long bytes) {
    }

    private final CudaDevice device;
    private final Map<String, CUfunction> functions;
    /** Compute capability 9.0 or newer: kernels launch with programmatic dependent launch; otherwise null. */
    private final DependentLaunch dependentLaunch;
    private final Cublas cublas;
    private final DeviceArena workspace;
    /** Per-step uploads and tables, by identity of what they were made from: a step's layers share them. */
    private final Map<Object, Object> perStep = new IdentityHashMap<>();
    private ByteBuffer uploadStaging = ByteBuffer.allocateDirect(1 << 16).order(ByteOrder.nativeOrder());
    /**
     * Buffers that one operation fills and the next consumes, by use: stream order lets every operation of a step share
     * one, grown on demand, where taking each from the workspace would hold one per operation until the step ends.
     */
    private final Map<String, Scratch> scratch = new HashMap<>();
    private final List<Op> pending = new ArrayList<>();
    /** Most rows of any activation this step. */
    private int stepRows;
    private final Map<List<Op>, CUgraphExec> graphs = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<List<Op>, CUgraphExec> eldest) {
            if (size() > MAX_GRAPHS) {
                cuGraphExecDestroy(eldest.getValue());
                return true;
            }
            return false;
        }
    };

    StepQueue(CudaDevice device, Map<String, CUfunction> functions, DependentLaunch dependentLaunch, Cublas cublas) {
        this.device = device;
        this.functions = functions;
        this.dependentLaunch = dependentLaunch;
        this.cublas = cublas;
        this.workspace = new DeviceArena(bytes -> device.alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS));
    }

    /** Workspace for the rest of the step; {@code rows}: the rows of an activation it holds, 0 for other buffers. */
    CUdeviceptr take(long bytes, int rows) {
        stepRows = Math.max(stepRows, rows);
        return workspace.take(bytes);
    }

    /** The value made from {@code key} this step, made once however often it is asked for. */
    @SuppressWarnings("unchecked")
    <K, V> V perStep(K key, Function<K, V> make) {
        return (V) perStep.computeIfAbsent(key, k -> make.apply((K) k));
    }

    /**
     * A per-step copy of a host array on the device. The copy is queued on the stream: a step's later uploads then wait
     * only for their turn, not for the chunks already running; the driver stages ordinary host memory before it
     * returns, so the staging buffer is free again.
     */
    CUdeviceptr stepInts(int[] values) {
        return perStep(values, v -> {
            long bytes = 4L * v.length;
            CUdeviceptr p = workspace.take(bytes);
            if (uploadStaging.capacity() < bytes) {
                uploadStaging = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
            }
            uploadStaging.clear();
            uploadStaging.asIntBuffer().put(v);
            device.current();
            cuMemcpyHtoDAsync(p, Pointer.to(uploadStaging), bytes, device.stream());
            return p;
        });
    }

    /** The scratch buffer of {@code use}, of at least {@code bytes}; a smaller one is let go once its work is done. */
    CUdeviceptr scratch(String use, long bytes) {
        Scratch held = scratch.get(use);
        if (held != null && held.bytes() >= bytes) {
            return held.ptr();
        }
        if (held != null) {
            synchronize();
            device.free(held.ptr());
        }
        Scratch grown = new Scratch(device.alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS), bytes);
        scratch.put(use, grown);
        return grown.ptr();
    }

    /**
     * {@code count} counters that a kernel's blocks count their arrivals in, zero before each launch (the last block to
     * arrive resets its counter, so they are zeroed only when first made).
     */
    CUdeviceptr arrivals(int count) {
        Scratch before = scratch.get("arrivals");
        CUdeviceptr p = scratch("arrivals", 4L * count);
        if (before == null || before.ptr() != p) {
            device.current();
            cuMemsetD32Async(p, 0, scratch.get("arrivals").bytes() / 4, device.stream());
        }
        return p;
    }

    /** Holds an operation for the step; a full chunk is submitted at once. */
    void queue(Op op) {
        if (op instanceof Launch l && !functions.containsKey(l.function())) {
            throw new IllegalArgumentException("no kernel " + l.function() + " was loaded from the fatbin");
        }
        pending.add(op);
        if (pending.size() >= CHUNK_OPS) {
            flush();
        }
    }

    /** A launch of enough blocks of {@code block} threads for {@code threads} threads. */
    void launch(String function, long threads, int block, Object... args) {
        queue(new Launch(function, (int) Math.max(1, (threads + block - 1) / block), block, args));
    }

    void launchBlocks(String function, int blocks, int block, Object... args) {
        launch(function, (long) blocks * block, block, args);
    }

    /**
     * Submits the held operations. In a decode-sized step each chunk is captured once as a CUDA graph and replayed
     * whenever the same operations come again: the workspace hands out the same addresses each step and what changes
     * between steps (tokens, positions, cache rows) is uploaded data, not kernel arguments.
     */
    void flush() {
        if (pending.isEmpty()) {
            return;
        }
        device.current();
        if (stepRows <= GRAPH_ROWS) {
            List<Op> key = List.copyOf(pending);
            CUgraphExec exec = graphs.get(key);
            if (exec == null) {
                CUgraph graph = new CUgraph();
                cuStreamBeginCapture(device.stream(), CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
                try {
                    key.forEach(this::submit);
                } catch (RuntimeException e) {
                    // end the capture, or the stream refuses all later work
                    pending.clear();
                    cuStreamEndCapture(device.stream(), graph);
                    cuGraphDestroy(graph);
                    throw e;
                }
                cuStreamEndCapture(device.stream(), graph);
                exec = new CUgraphExec();
                cuGraphInstantiate(exec, graph, 0);
                cuGraphDestroy(graph);
                graphs.put(key, exec);
            }
            cuGraphLaunch(exec, device.stream());
        } else {
            pending.forEach(this::submit);
        }
        pending.clear();
    }

    /** Runs one launch now, outside any step (weight repacking at upload), and waits for it. */
    void runNow(Launch launch) {
        device.current();
        submit(launch);
        cuStreamSynchronize(device.stream());
    }

    private void submit(Op op) {
        switch (op) {
            case Launch l when dependentLaunch != null ->
                    dependentLaunch.launch(functions.get(l.function()), l.grid(), l.block(), l.shared(), device.stream(), l.args());
            case Launch l -> launchPlain(l);
            case Gemm g -> cublas.gemm(g.w(), g.x(), g.y(), g.m(), g.n(), g.k(), g.ldy(), g.accumulate());
        }
    }

    private void launchPlain(Launch l) {
        Pointer[] params = new Pointer[l.args().length];
        for (int i = 0; i < params.length; i++) {
            params[i] = switch (l.args()[i]) {
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + l.args()[i]);
            };
        }
        cuLaunchKernel(functions.get(l.function()), l.grid(), 1, 1, l.block(), 1, 1, l.shared(), device.stream(), Pointer.to(params), null);
    }

    /** Waits for the device to finish the step's work so far. */
    void synchronize() {
        flush();
        device.current();
        cuStreamSynchronize(device.stream());
    }

    /** The step is over: its work done, its workspace and uploads released. */
    void endStep() {
        synchronize();
        perStep.clear();
        workspace.reset();
        stepRows = 0;
    }

    void close() {
        endStep();
        graphs.values().forEach(jcuda.driver.JCudaDriver::cuGraphExecDestroy);
        graphs.clear();
        workspace.release().forEach(device::free);
        scratch.values().forEach(held -> device.free(held.ptr()));
        scratch.clear();
    }
}
