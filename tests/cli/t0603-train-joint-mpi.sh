# train-joint under `mpirun -np 2`: with alpha 0 (no per-rank spatial term), 2 ranks x 8 images
# give the single-rank loss of 16 images to 1e-5 per step (SyncBN, NT-Xent negatives gathered
# across ranks, gradients averaged), and the weights after the run agree to float rounding.
# The learning rate is small (0.03 per 256) so that the 4-step trajectory is well conditioned: at
# the default 0.3 this 16-image SimCLR batch is chaotic (on one rank, changing the lr by 1e-5
# relative moves the third step's loss by 2e-3), which would test the model, not the reduction.
# Stage 3 with 2 ranks (each rank its own neighbourhoods on its own rows) must run and log finite
# spatial losses.
# SKIP without mpirun or in a build without MPI.
. tests/cli/lib.sh
. tests/cli/lib-train.sh
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
grep -q '^HAVE_MPI := 1' build/config.mk 2>/dev/null || { echo "SKIP: built without MPI"; exit 77; }
MPI=(mpirun --oversubscribe -np 2)
[ "$(id -u)" = 0 ] && MPI=(mpirun --allow-run-as-root --oversubscribe -np 2)
tiny_config "$TMP/c.yaml"
A=(--config "$TMP/c.yaml" --stage stage1 --steps 4 --base-lr 0.03 --checkpoint-every 0 --eval-every 0)

expect_exit 0 "$BIN/train-joint" "${A[@]}" -o "$TMP/one.h5"
expect_exit 0 "${MPI[@]}" "$BIN/train-joint" "${A[@]}" -o "$TMP/two.h5"
expect_grep "4 steps of 16 images (2 ranks)" "$TMP/err"
expect_exit 0 "$BIN/h5-compare" --atol 1e-5 "$TMP/one.h5:/log/task_loss" "$TMP/two.h5:/log/task_loss"
cat "$TMP/out"
expect_exit 0 "$BIN/h5-compare" --atol 1e-5 "$TMP/one.h5:/log/lr" "$TMP/two.h5:/log/lr"
# weights: float rounding differs between the two reductions, nothing more
expect_exit 0 "$BIN/h5-compare" --quiet --atol 1e-5 --rtol 1e-3 "$TMP/one.h5:/params/layer2.0.conv1.weight" "$TMP/two.h5:/params/layer2.0.conv1.weight"
expect_exit 0 "$BIN/h5-compare" --quiet --atol 1e-5 --rtol 1e-3 "$TMP/one.h5:/head/head.2.weight" "$TMP/two.h5:/head/head.2.weight"

# Stage 3 on 2 ranks
tiny_sheet "$TMP/c.yaml" "$TMP/sheet.h5"
expect_exit 0 "${MPI[@]}" "$BIN/train-joint" --config "$TMP/c.yaml" --stage tdann --sheet "$TMP/sheet.h5" --steps 2 -o "$TMP/t2.h5"
h5dump -d /log/spatial_loss "$TMP/t2.h5" >"$TMP/sl.txt" 2>&1
grep -qi nan "$TMP/sl.txt" && fail "NaN in the 2-rank spatial loss log" || ok "2-rank spatial losses finite"

# a batch that does not split over the ranks is refused
expect_exit 2 "${MPI[@]}" "$BIN/train-joint" "${A[@]}" --batch-size 15 -o "$TMP/bad.h5"
expect_grep "batch_size 15 is not divisible by the 2 ranks" "$TMP/err"
finish
