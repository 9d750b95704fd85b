package loam

import "context"

func (r *remoteNode) planLeave(ctx context.Context, ref string) (LeavePlan, error) {
	p, err := r.c.PlanLeave(ctx, ref)
	return LeavePlan(p), err
}

func (r *remoteNode) leave(ctx context.Context, ref string) (LeaveReport, error) {
	rep, err := r.c.Leave(ctx, ref)
	return leaveReportOf(rep), err
}
