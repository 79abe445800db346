# train-joint: a run killed with SIGKILL and resumed with --resume ends bit-identical (tolerance 0)
# to an uninterrupted run on the CPU backend; so does a run stopped by SIGTERM, which writes a
# checkpoint at the step it was in and exits 1. Stage 3 settings (alpha 0.25 on a sheet, held-out
# evaluation), so every part of the state is exercised.
. tests/cli/lib.sh
. tests/cli/lib-train.sh
tiny_config "$TMP/c.yaml"
tiny_sheet "$TMP/c.yaml" "$TMP/sheet.h5"
A=(--config "$TMP/c.yaml" --stage tdann --sheet "$TMP/sheet.h5" --steps 10 --checkpoint-every 2)
T="$BIN/train-joint"

expect_exit 0 "$T" "${A[@]}" -o "$TMP/ref.h5"

# wait_for FILE: up to 60 s
wait_for() { for _ in $(seq 1200); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }

# 1. SIGKILL right after the first checkpoint appears
"$T" "${A[@]}" -o "$TMP/k.h5" 2>"$TMP/k.err" &
pid=$!
wait_for "$TMP/k.ckpt/step-000000002.h5" || fail "no checkpoint after step 2"
kill -KILL $pid
wait $pid 2>/dev/null
[ -e "$TMP/k.h5" ] && fail "the run 
# 4. a fresh start (no --resume) sets the earlier run's checkpoints aside
expect_exit 0 "$T" "${A[@]}" --steps 6 --checkpoint-every 4 -o "$TMP/x.h5"
expect_grep "the 1 checkpoint of an earlier run moved to '$TMP/x.ckpt/previous'" "$TMP/err"
[ -e "$TMP/x.ckpt/previous/step-000000002.h5" ] && [ -e "$TMP/x.ckpt/step-000000004.h5" ] && [ ! -e "$TMP/x.ckpt/step-000000002.h5" ] &&
  ok "old checkpoints set aside" || { fail "checkpoint directory after a fresh start"; ls -R "$TMP/x.ckpt"; }
finished before it was killed (the test did not test)"
expect_exit 0 "$T" "${A[@]}" --resume -o "$TMP/k.h5"
expect_grep "resuming at step [2-9] of 10" "$TMP/err"
same_model "$TMP/ref.h5" "$TMP/k.h5"

# 2. SIGTERM: checkpoint at the current step, exit 1, then resume
"$T" "${A[@]}" -o "$TMP/t.h5" 2>"$TMP/t.err" &
pid=$!
wait_for "$TMP/t.ckpt/step-000000002.h5" || fail "no checkpoint after step 2"
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 1 ] && ok "SIGTERM: exit 1" || fail "SIGTERM: exit $rc (want 1)"
expect_grep "interrupted by a signal after step" "$TMP/t.err"
[ -e "$TMP/t.h5" ] && fail "an interrupted run wrote the final model"
expect_exit 0 "$T" "${A[@]}" --resume -o "$TMP/t.h5"
same_model "$TMP/ref.h5" "$TMP/t.h5"

# 3. a leftover temporary checkpoint (killed while writing) is ignored; a resumed run with a
#    different number of steps is refused
mkdir -p "$TMP/x.ckpt"
expect_exit 0 "$T" "${A[@]}" --steps 4 -o "$TMP/x.h5"
cp "$TMP/x.ckpt/step-000000002.h5" "$TMP/x.ckpt/step-000000003.h5.tmp"
rm "$TMP/x.h5"
expect_exit 2 "$T" "${A[@]}" --resume -o "$TMP/x.h5"
expect_grep "cannot resume: the checkpoint was made for 4 steps" "$TMP/err"

# 4. a fresh start (no --resume) sets the earlier run's checkpoints aside
expect_exit 0 "$T" "${A[@]}" --steps 6 --checkpoint-every 4 -o "$TMP/x.h5"
expect_grep "the 1 checkpoint of an earlier run moved to '$TMP/x.ckpt/previous'" "$TMP/err"
[ -e "$TMP/x.ckpt/previous/step-000000002.h5" ] && [ -e "$TMP/x.ckpt/step-000000004.h5" ] && [ ! -e "$TMP/x.ckpt/step-000000002.h5" ] &&
  ok "old checkpoints set aside" || { fail "checkpoint directory after a fresh start"; ls -R "$TMP/x.ckpt"; }
finish
