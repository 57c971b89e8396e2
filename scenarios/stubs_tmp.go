package scenarios

func asymmetricPartition(env *Env) *Result        { return &Result{} }
func transferAndCampaign(env *Env) *Result        { return &Result{} }
func faultScenarios() []Scenario                  { return nil }
