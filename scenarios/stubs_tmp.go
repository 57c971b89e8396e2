package scenarios

func transferAndCampaign(env *Env) *Result        { return &Result{} }
func faultScenarios() []Scenario                  { return nil }
