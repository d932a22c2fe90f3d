package ai.convoy.runtime.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.convoy.kernels.cuda.CudaBackend;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A model split over two GPUs, activations handed from one to the other, gives the one-GPU logits bit for bit. */
@Tag("gpu")
class TwoGpuPipelineTest {

    @Test
    void twoGpusEqualOneOverPrefillAndDecode() {
        assumeTrue(CudaBackend.deviceCount() >= 2, "needs two GPUs");
        List<ParityModels.Reference> refs = new java.util.ArrayList<>(ParityModels.all());
        refs.addAll(ParityModels.quantized());
        for (ParityModels.Reference ref : refs) {
            ModelConfig c = ModelConfig.read(ref.dir());
            try (Checkpoint ck = Checkpoint.open(ref.dir()); CudaBackend one = new CudaBackend(0); CudaBackend first = new CudaBackend(0);
                 CudaBackend second = new CudaBackend(1)) {
                int n = c.layers();
                QuantizationOptions q = QuantizationOptions.NONE;
                PipelineStage whole = new PipelineStage(Transformer.load(c, ck, one, q));
                List<PipelineStage> parts = List.of(new PipelineStage(Transformer.loadPart(c, ck, first, q, 0, n / 2 - 1, true, false)),
                        new PipelineStage(Transformer.loadPart(c, ck, second, q, n / 2, n - 1, false, true)));
                int[] prompt = ref.promptIds();
                long seq = 7;
                whole.open(seq, 64);
                parts.forEach(p -> p.open(seq, 64));
                MicroBatch prefill = new MicroBatch(1, SequenceChanges.NONE, IntStream.range(0, prompt.length).mapToLong(i -> seq).toArray(),
                        IntStream.range(0, prompt.length).toArray(), prompt, null, IntStream.range(0, prompt.length).toArray());
                float[][] expected = whole.run(prefill).logits();
                float[][] actual = chain(parts, prefill);
                for (int r = 0; r < prompt.length; r++) {
                    assertArrayEquals(expected[r], actual[r], ref + " prefill row " + r);
                }
                SplittableRandom random = new SplittableRandom(5);
                for (int step = 0; step < 5; step++) {
                    MicroBatch decode = new MicroBatch(2 + step, SequenceChanges.NONE, new long[] {seq}, new int[] {prompt.length + step},
                            new int[] {random.nextInt(c.vocabSize())}, null, new int[] {0});
                    assertArrayEquals(whole.run(decode).logits()[0], chain(parts, decode)[0], ref + " decode step " + step);
                }
            }
        }
    }

    private static float[][] chain(List<PipelineStage> stages, MicroBatch batch) {
        PipelineStage.Result r = null;
        for (PipelineStage s : stages) {
            r = s.run(batch);
            if (r.next() != null) {
                batch = r.next();
            }
        }
        return r.logits();
    }
}
