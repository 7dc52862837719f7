package tracker

// ForkPoint compares the tracker's recent blocks with a node's best chain
// (its tip height and its block hash at a height) and says how to follow
// it: disconnect the blocks above height fork, then connect the node's
// blocks from fork+1 to its tip.
//
// A node is behind, not reorganised, when its tip is below the tracker's
// and its block at that height is the tracker's: behind is then true and
// nothing must be disconnected until it catches up (a node after -reindex,
// or a failover to a lagging node, would otherwise look like a reorg).
// Blocks are disconnected only above the highest height at which the node
// reports the tracker's block; a node whose tip is below every remembered
// block is behind too. When no remembered block matches, fork is
// the height below the oldest remembered block, which Disconnect refuses
// as too deep. An empty tracker returns fork -1 and behind false.
func (t *Tracker) ForkPoint(nodeTip int64, hashAt func(height int64) (string, error)) (fork int64, behind bool, err error) {
	if len(t.blocks) == 0 {
		return -1, false, nil
	}
	if nodeTip < t.blocks[0].ref.Height {
		// Below everything remembered: nothing to compare, so nothing to
		// disconnect for; wait for the node.
		return t.blocks[0].ref.Height - 1, true, nil
	}
	for i := len(t.blocks) - 1; i >= 0; i-- {
		r := t.blocks[i].ref
		if r.Height > nodeTip {
			continue
		}
		h, err := hashAt(r.Height)
		if err != nil {
			return 0, false, err
		}
		if h == r.Hash {
			tip := t.blocks[len(t.blocks)-1].ref
			return r.Height, r.Height == nodeTip && nodeTip < tip.Height, nil
		}
	}
	return t.blocks[0].ref.Height - 1, false, nil
}
