package ai.convoy.runtime.pipeline;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.convoy.kernels.cuda.CudaBackend;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.plan.Devices;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A model split over two GPUs, activations handed from one to the other, gives the one-GPU logits bit for bit. */
@Tag("gpu")
class TwoGpuPipelineTest {

    @Test
    void twoGpusEqualOneOverPrefillAndDecode() {
        assumeTrue(Devices.cudaGpus().size() >= 2, "needs two GPUs");
        List<ParityModels.Reference> refs = new ArrayList<>(ParityModels.all());
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
                StageChains.assertPartsEqualWhole(whole, parts, ref.promptIds(), c.vocabSize(), 7, ref.toString());
            }
        }
    }
}
