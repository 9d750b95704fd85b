package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (l localNode) planLeave(ctx context.Context, ref string) (LeavePlan, error) {
	p, err := l.n.PlanLeave(ctx, ref)
	if err != nil {
		return LeavePlan{}, err
	}
	return LeavePlan(api.LeavePlanOf(p)), nil
}

func (l localNode) leave(ctx context.Context, ref string) (LeaveReport, error) {
	r, err := l.n.Leave(ctx, ref)
	if err != nil {
		return LeaveReport{}, err
	}
	return leaveReportOf(api.LeaveReportOf(r)), nil
}
